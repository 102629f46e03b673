//! The auth checks' symbols with Rspamd 3.4's groups, default weights and descriptions
//! (`scores.d/policies_group.conf`; `DKIM_TRACE`, `DMARC_BAD_POLICY` and `DMARC_DNSFAIL` are
//! registered by Rspamd's modules with weight 0). The configuration's `symbols` and `group`
//! sections override them as for any symbol.

/// Name, group, weight, description, one_shot.
pub type SymbolDef = (&'static str, &'static str, f64, &'static str, bool);

pub const SYMBOLS: &[SymbolDef] = &[
    (
        "R_SPF_ALLOW",
        "spf",
        -0.2,
        "SPF verification allows sending",
        false,
    ),
    ("R_SPF_FAIL", "spf", 1.0, "SPF verification failed", false),
    (
        "R_SPF_SOFTFAIL",
        "spf",
        0.0,
        "SPF verification soft-failed",
        false,
    ),
    ("R_SPF_NEUTRAL", "spf", 0.0, "SPF policy is neutral", false),
    ("R_SPF_DNSFAIL", "spf", 0.0, "SPF DNS failure", false),
    ("R_SPF_NA", "spf", 0.0, "Missing SPF record", true),
    (
        "R_SPF_PERMFAIL",
        "spf",
        0.0,
        "SPF record is malformed or persistent DNS error",
        false,
    ),
    (
        "R_DKIM_ALLOW",
        "dkim",
        -0.2,
        "DKIM verification succeed",
        true,
    ),
    (
        "R_DKIM_REJECT",
        "dkim",
        1.0,
        "DKIM verification failed",
        true,
    ),
    (
        "R_DKIM_TEMPFAIL",
        "dkim",
        0.0,
        "DKIM verification soft-failed",
        false,
    ),
    (
        "R_DKIM_PERMFAIL",
        "dkim",
        0.0,
        "DKIM verification hard-failed (invalid)",
        false,
    ),
    ("R_DKIM_NA", "dkim", 0.0, "Missing DKIM signature", true),
    ("DKIM_TRACE", "dkim", 0.0, "DKIM trace symbol", false),
    (
        "DMARC_POLICY_ALLOW",
        "dmarc",
        -0.5,
        "DMARC permit policy",
        false,
    ),
    (
        "DMARC_POLICY_ALLOW_WITH_FAILURES",
        "dmarc",
        -0.5,
        "DMARC permit policy with DKIM/SPF failure",
        false,
    ),
    (
        "DMARC_POLICY_REJECT",
        "dmarc",
        2.0,
        "DMARC reject policy",
        false,
    ),
    (
        "DMARC_POLICY_QUARANTINE",
        "dmarc",
        1.5,
        "DMARC quarantine policy",
        false,
    ),
    ("DMARC_POLICY_SOFTFAIL", "dmarc", 0.1, "DMARC failed", false),
    ("DMARC_NA", "dmarc", 0.0, "No DMARC record", false),
    (
        "DMARC_BAD_POLICY",
        "dmarc",
        0.0,
        "DMARC policy was invalid",
        false,
    ),
    ("DMARC_DNSFAIL", "dmarc", 0.0, "DMARC DNS failure", false),
    ("ARC_ALLOW", "arc", -1.0, "ARC checks success", false),
    ("ARC_REJECT", "arc", 1.0, "ARC checks failed", false),
    ("ARC_INVALID", "arc", 0.5, "ARC structure invalid", false),
    ("ARC_DNSFAIL", "arc", 0.0, "ARC DNS error", false),
    ("ARC_NA", "arc", 0.0, "ARC signature absent", false),
];

/// The groups of [`SYMBOLS`], with Rspamd's descriptions.
pub const GROUPS: &[(&str, &str)] = &[
    ("spf", "SPF"),
    ("dkim", "DKIM"),
    ("dmarc", "DMARC"),
    ("arc", "ARC"),
];
