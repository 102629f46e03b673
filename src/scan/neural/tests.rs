use super::*;

fn xor_samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for _ in 0..8 {
        for (a, b) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)] {
            out.push(Sample {
                inputs: vec![a, b],
                spam: (a > 0.5) != (b > 0.5),
            });
        }
    }
    out
}

fn xor_params(seed: u64) -> TrainParams {
    TrainParams {
        learning_rate: 0.05,
        max_iterations: 400,
        hidden_layer_mult: 2.0,
        batch_size: 8,
        seed,
    }
}

#[test]
fn learns_xor() {
    let net = train(&xor_samples(), &xor_params(1)).unwrap();
    assert_eq!((net.inputs(), net.hidden()), (2, 5));
    for (a, b, spam) in [
        (0.0, 0.0, false),
        (0.0, 1.0, true),
        (1.0, 0.0, true),
        (1.0, 1.0, false),
    ] {
        let out = net.apply(&[a, b]);
        let want = if spam { 1.0 } else { -1.0 };
        assert!((out - want).abs() < 0.5, "xor({a}, {b}) -> {out}");
    }
}

#[test]
fn same_seed_same_network_other_seed_other_network() {
    let a = train(&xor_samples(), &xor_params(7)).unwrap();
    let b = train(&xor_samples(), &xor_params(7)).unwrap();
    let c = train(&xor_samples(), &xor_params(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn pacing_is_asked_every_few_samples_and_changes_nothing() {
    let samples = sparse_samples(150, 3);
    let params = TrainParams {
        max_iterations: 4,
        batch_size: 32,
        seed: 5,
        ..TrainParams::default()
    };
    let mut asked = 0;
    let paced = train_paced(&samples, &params, &mut || asked += 1).unwrap();
    // 150 samples in batches of 32 (the last 22), asked every 8 samples
    // of a batch: 4 + 4 + 4 + 4 + 3 per pass.
    assert_eq!(asked, 4 * 19);
    assert_eq!(paced, train(&samples, &params).unwrap());
}

/// Many inputs, few set per sample, as symbol vectors are: spam sets some
/// of the first ten inputs, ham some of the last ten, both share noise.
fn sparse_samples(n: usize, seed: u64) -> Vec<Sample> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|k| {
            let spam = k % 2 == 0;
            let mut inputs = vec![0.0; 200];
            let base = if spam { 0 } else { 190 };
            for _ in 0..3 {
                inputs[base + rng.usize(..10)] = 0.1 + rng.f32() * 0.9;
            }
            for _ in 0..4 {
                inputs[10 + rng.usize(..180)] = 0.1 + rng.f32() * 0.9;
            }
            Sample { inputs, spam }
        })
        .collect()
}

#[test]
fn separates_sparse_symbol_vectors_it_did_not_see() {
    let net = train(&sparse_samples(400, 1), &TrainParams::default()).unwrap();
    assert_eq!(net.hidden(), 301);
    let test = sparse_samples(200, 2);
    let right = test
        .iter()
        .filter(|s| (net.apply(&s.inputs) > 0.0) == s.spam)
        .count();
    // The noise inputs are set as strongly as the telling ones, so a few
    // unseen vectors may fall on the wrong side; chance would be half.
    assert!(right >= 196, "{right} of {} right", test.len());
}

#[test]
fn training_further_keeps_the_shape_and_moves_the_weights() {
    let samples = sparse_samples(100, 3);
    let params = TrainParams {
        max_iterations: 2,
        ..TrainParams::default()
    };
    let first = train(&samples, &params).unwrap();
    let again = train_from(first.clone(), &samples, &params).unwrap();
    assert_eq!(
        (again.inputs(), again.hidden()),
        (first.inputs(), first.hidden())
    );
    assert_ne!(again, first);
    let narrow = vec![
        Sample {
            inputs: vec![1.0],
            spam: true,
        },
        Sample {
            inputs: vec![0.0],
            spam: false,
        },
    ];
    assert_eq!(
        train_from(first, &narrow, &params),
        Err(NeuralError::InputWidth {
            index: 0,
            got: 1,
            want: 200
        })
    );
}

#[test]
fn refuses_unusable_samples() {
    let p = TrainParams::default();
    assert_eq!(train(&[], &p), Err(NeuralError::NoSamples));
    let spam_only = vec![
        Sample {
            inputs: vec![1.0, 0.0],
            spam: true,
        };
        3
    ];
    assert_eq!(
        train(&spam_only, &p),
        Err(NeuralError::OneClass { spam: 3, ham: 0 })
    );
    let ragged = vec![
        Sample {
            inputs: vec![1.0, 0.0],
            spam: true,
        },
        Sample {
            inputs: vec![1.0],
            spam: false,
        },
    ];
    assert_eq!(
        train(&ragged, &p),
        Err(NeuralError::InputWidth {
            index: 1,
            got: 1,
            want: 2
        })
    );
}

#[test]
fn bytes_round_trip_and_damage_is_refused() {
    let net = train(&xor_samples(), &xor_params(1)).unwrap();
    let bytes = net.to_bytes();
    let back = Net::from_bytes(&bytes).unwrap();
    assert_eq!(back, net);
    assert_eq!(back.apply(&[0.0, 1.0]), net.apply(&[0.0, 1.0]));

    assert!(matches!(
        Net::from_bytes(&bytes[..bytes.len() - 1]),
        Err(NeuralError::Corrupt(_))
    ));
    assert!(matches!(
        Net::from_bytes(b"nope"),
        Err(NeuralError::Corrupt(_))
    ));
    let mut other_version = bytes.clone();
    other_version[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(
        Net::from_bytes(&other_version),
        Err(NeuralError::FormatVersion(9))
    );
    let mut nan = bytes.clone();
    nan[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(matches!(
        Net::from_bytes(&nan),
        Err(NeuralError::Corrupt(_))
    ));
    let mut huge = bytes;
    huge[8..16].copy_from_slice(&[0xff; 8]);
    assert!(matches!(
        Net::from_bytes(&huge),
        Err(NeuralError::Corrupt(_))
    ));
}

#[test]
fn profile_orders_symbols_and_builds_inputs_as_rspamd() {
    let p = Profile::new(["R_SPF_ALLOW", "BAYES_SPAM", "MIME_GOOD", "BAYES_SPAM"]);
    assert_eq!(p.symbols(), ["BAYES_SPAM", "MIME_GOOD", "R_SPF_ALLOW"]);
    let v = p.inputs([
        ("R_SPF_ALLOW", -0.2),
        ("BAYES_SPAM", 5.1),
        ("MIME_GOOD", 0.0),
        ("NOT_IN_PROFILE", 3.0),
    ]);
    assert_eq!(v.len(), 3);
    assert!((v[0] - 5.1f64.tanh() as f32).abs() < 1e-6, "{v:?}");
    assert!((v[1] - profile::MIN_INPUT).abs() < 1e-9, "{v:?}");
    assert!((v[2] - 0.2f64.tanh() as f32).abs() < 1e-6, "{v:?}");
    assert_eq!(p.inputs([("MIME_GOOD", f64::NAN)]), vec![0.0; 3]);
}

#[test]
fn profile_digest_follows_the_symbol_set_not_its_order() {
    let a = Profile::new(["A", "B", "C"]);
    let b = Profile::new(["C", "A", "B"]);
    let c = Profile::new(["A", "B", "D"]);
    let d = Profile::new(["A", "BC"]);
    let e = Profile::new(["AB", "C"]);
    assert_eq!(a.digest(), b.digest());
    assert_ne!(a.digest(), c.digest());
    assert_ne!(d.digest(), e.digest());
    assert_eq!(a.digest().len(), 16);
}

#[test]
fn inputs_from_a_verdict_use_each_symbols_score() {
    let mut v = crate::verdict::Verdict::empty(15.0);
    for (name, score) in [("BAYES_HAM", -3.0), ("DMARC_POLICY_ALLOW", -0.5)] {
        v.symbols.push(crate::verdict::Symbol {
            name: name.into(),
            score,
            metric_score: score,
            description: None,
            options: Vec::new(),
        });
    }
    let p = Profile::new(["BAYES_HAM", "BAYES_SPAM", "DMARC_POLICY_ALLOW"]);
    let x = p.inputs_from_verdict(&v);
    assert!((x[0] - 3.0f64.tanh() as f32).abs() < 1e-6);
    assert!(x[1].abs() < f32::EPSILON);
    assert!((x[2] - 0.5f64.tanh() as f32).abs() < 1e-6);
}
