//! The import graph of `src/`: which file names which through `crate::`
//! (and `self::`/`super::` at a file's top level) paths. It guards the
//! layering of issue 21: no large import cycles, transports see the scan
//! only through `verdict` and never each other, metrics import no other
//! module's types, and
//! Bayes (`stats`) knows nothing of the scan. Test modules are left out:
//! they may reach anywhere.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The largest import cycle (strongly connected set of files) allowed.
const MAX_CYCLE: usize = 3;

/// The top-level modules of `src/`, lowest layer first: a module imports from
/// its own layer and those below. `""` is `lib.rs` (the exported macros).
const LAYERS: &[&[&str]] = &[
    &["", "message", "metrics", "notify", "progress"],
    &["verdict"],
    &["config", "redis"],
    &[
        "log",
        "stats",
        "dns",
        "sign",
        "state",
        "history",
        "fuzzy_storage",
    ],
    &["scan"],
    &["milter", "forward"],
    &["server"],
    &["http"],
    &[
        "daemon",
        "eval_bayes",
        "rescore",
        "fuzzy_cli",
        "fuzzing",
        "bench",
        "cli",
        "manpage",
        "status",
        "via_controller",
        "reload",
    ],
];

/// Import statements (a `use` line counts once) allowed to run from a lower
/// layer back up.
const MAX_UPWARD: usize = 2;

/// One `crate::` path found in a file, with the line it starts on.
struct Import {
    line: usize,
    path: Vec<String>,
}

/// A source file of the library and the module path it defines.
struct Unit {
    rel: String,
    module: Vec<String>,
    imports: Vec<Import>,
    reexports: Reexports,
}

/// On failure it lists each cycle's files and each forbidden import with
/// file and line. Run it alone with `cargo test --test engine layers`.
#[test]
fn import_graph_follows_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let units = load(&src);
    let graph = Graph::new(&units);
    let mut problems = Vec::new();
    for cycle in graph.cycles().into_iter().filter(|c| c.len() > MAX_CYCLE) {
        problems.push(format!(
            "import cycle of {} files (more than {MAX_CYCLE}):\n    {}",
            cycle.len(),
            cycle.join("\n    ")
        ));
    }
    problems.extend(forbidden(&units));
    problems.extend(upward(&units));
    assert!(
        problems.is_empty(),
        "{} layering problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The layer of a top-level module, `None` for one [`LAYERS`] does not name.
fn layer(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

/// Imports from a lower layer up to a higher one, if more than
/// [`MAX_UPWARD`]; and every top-level module [`LAYERS`] does not place.
fn upward(units: &[Unit]) -> Vec<String> {
    let mut out = Vec::new();
    let mut up = BTreeMap::new();
    for u in units {
        let top = u.module.first().map(String::as_str).unwrap_or("");
        let Some(from) = layer(top) else {
            out.push(format!(
                "src/{}: module `{top}` has no layer in LAYERS",
                u.rel
            ));
            continue;
        };
        for imp in &u.imports {
            let to = imp.path.first().map(String::as_str).unwrap_or("");
            if layer(to).is_some_and(|l| l > from) {
                up.entry((u.rel.clone(), imp.line))
                    .or_insert_with(|| format!("src/{}:{}: crate::{to}", u.rel, imp.line));
            }
        }
    }
    if up.len() > MAX_UPWARD {
        out.push(format!(
            "{} imports run from a lower layer back up (at most {MAX_UPWARD}):\n    {}",
            up.len(),
            up.into_values().collect::<Vec<_>>().join("\n    ")
        ));
    }
    out
}

/// Imports that cross a layer the wrong way, as `file:line: path (rule)`.
fn forbidden(units: &[Unit]) -> Vec<String> {
    let mut out = Vec::new();
    for u in units {
        let top = u.module.first().map(String::as_str).unwrap_or("");
        for imp in &u.imports {
            let to = imp.path.first().map(String::as_str).unwrap_or("");
            let rule = match top {
                "milter" | "http" | "forward" if to == "scan" => {
                    "transports reach the scan only through crate::verdict"
                }
                // Callers hand metrics plain data (an action's index and name).
                "metrics" if to != "metrics" => "metrics import no other module's types",
                "milter" | "http" | "forward"
                    if to != top && matches!(to, "milter" | "http" | "forward") =>
                {
                    "transports do not import each other"
                }
                "stats" if to == "scan" => "Bayes (stats) imports nothing from the scan",
                _ => continue,
            };
            out.push(format!(
                "forbidden import src/{}:{}: crate::{} ({rule})",
                u.rel,
                imp.line,
                imp.path.join("::")
            ));
        }
    }
    out
}

/// Files as nodes, "names something defined in" as edges.
struct Graph {
    names: Vec<String>,
    edges: Vec<BTreeSet<usize>>,
}

impl Graph {
    fn new(units: &[Unit]) -> Graph {
        let index: BTreeMap<&[String], usize> = units
            .iter()
            .enumerate()
            .map(|(i, u)| (u.module.as_slice(), i))
            .collect();
        let reexports = reexports(units);
        let mut edges = vec![BTreeSet::new(); units.len()];
        for (i, u) in units.iter().enumerate() {
            for imp in &u.imports {
                if let Some(j) = resolve(&imp.path, &index, &reexports) {
                    if j != i {
                        edges[i].insert(j);
                    }
                }
            }
        }
        Graph {
            names: units.iter().map(|u| format!("src/{}", u.rel)).collect(),
            edges,
        }
    }

    /// Strongly connected components of more than one file (Tarjan).
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut t = Tarjan {
            graph: self,
            index: vec![None; self.names.len()],
            low: vec![0; self.names.len()],
            stack: Vec::new(),
            on_stack: vec![false; self.names.len()],
            next: 0,
            out: Vec::new(),
        };
        for v in 0..self.names.len() {
            if t.index[v].is_none() {
                t.visit(v);
            }
        }
        t.out
    }
}

struct Tarjan<'a> {
    graph: &'a Graph,
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: Vec<bool>,
    next: usize,
    out: Vec<Vec<String>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.graph.edges[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) != self.index[v] {
            return;
        }
        let mut scc = Vec::new();
        while let Some(w) = self.stack.pop() {
            self.on_stack[w] = false;
            scc.push(self.graph.names[w].clone());
            if w == v {
                break;
            }
        }
        if scc.len() > 1 {
            scc.sort();
            self.out.push(scc);
        }
    }
}

/// `pub use child::Name` in a module file: `Name` there is defined in the
/// child, so a path through the parent is an import of the child.
type Reexports = BTreeMap<Vec<String>, Vec<String>>;

fn reexports(units: &[Unit]) -> Reexports {
    units.iter().flat_map(|u| u.reexports.clone()).collect()
}

/// The file that defines what `path` names: the longest module prefix,
/// followed through re-exports.
fn resolve(
    path: &[String],
    index: &BTreeMap<&[String], usize>,
    reexports: &Reexports,
) -> Option<usize> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let n = (0..=path.len())
            .rev()
            .find(|&n| index.contains_key(&path[..n]))?;
        match path.get(n).and_then(|_| reexports.get(&path[..=n])) {
            Some(target) if target.as_slice() != path.as_slice() => {
                let mut next = target.clone();
                next.extend_from_slice(&path[n + 1..]);
                path = next;
            }
            _ => return index.get(&path[..n]).copied(),
        }
    }
    index.get(&path[..0]).copied()
}

/// Every library file under `src` (the binary's `main.rs` and test-only
/// module files excluded), with its imports.
fn load(src: &Path) -> Vec<Unit> {
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    let mut units: Vec<Unit> = Vec::new();
    let mut test_only = BTreeSet::new();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == "main.rs" {
            continue;
        }
        let module = module_of(&rel);
        let text = std::fs::read_to_string(&file).unwrap();
        let code = Code::strip(&text);
        for name in &code.test_modules {
            let mut m = module.clone();
            m.push(name.clone());
            test_only.insert(m);
        }
        let (imports, reexports) = code.imports(&module);
        units.push(Unit {
            rel,
            module,
            imports,
            reexports,
        });
    }
    units.retain(|u| !test_only.iter().any(|t| u.module.starts_with(t)));
    units
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `scan/mod.rs` -> `[scan]`, `scan/expr.rs` -> `[scan, expr]`, `lib.rs` -> `[]`.
fn module_of(rel: &str) -> Vec<String> {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// A file's code with comments, string and char literals blanked out
/// (newlines kept, so offsets still give line numbers) and with
/// `#[cfg(test)]` items removed.
struct Code {
    text: Vec<u8>,
    /// Depth of braces at each byte: module-relative paths count only at 0.
    depth: Vec<u32>,
    /// `#[cfg(test)] mod name;` declared here: files that are test-only.
    test_modules: Vec<String>,
}

impl Code {
    fn strip(src: &str) -> Code {
        let b = blank_literals(src.as_bytes());
        let (b, test_modules) = drop_test_items(b);
        let mut depth = Vec::with_capacity(b.len());
        let mut d = 0u32;
        for &c in &b {
            if c == b'}' {
                d = d.saturating_sub(1);
            }
            depth.push(d);
            if c == b'{' {
                d += 1;
            }
        }
        Code {
            text: b,
            depth,
            test_modules,
        }
    }

    fn line_at(&self, at: usize) -> usize {
        1 + self.text[..at].iter().filter(|&&c| c == b'\n').count()
    }

    /// Every path through `crate::` (anywhere) or `self::`/`super::` (at the
    /// top level of the file), group imports expanded. Relative
    /// `pub use child::X` at the top level is recorded as a re-export.
    fn imports(&self, module: &[String]) -> (Vec<Import>, Reexports) {
        let mut out = Vec::new();
        let mut reexports = Reexports::new();
        let t = &self.text;
        let mut i = 0;
        while i < t.len() {
            if !is_ident(t[i]) || (i > 0 && (is_ident(t[i - 1]) || t[i - 1] == b'$')) {
                i += 1;
                continue;
            }
            let word_end = (i..t.len()).find(|&j| !is_ident(t[j])).unwrap_or(t.len());
            let word = std::str::from_utf8(&t[i..word_end]).unwrap();
            let after_colons = t[word_end..].starts_with(b"::");
            let preceded_by_colons = i >= 2 && &t[i - 2..i] == b"::";
            let base: Option<Vec<String>> = match word {
                "crate" if after_colons && !preceded_by_colons && !after_in(t, i) => Some(vec![]),
                "self" | "super" if after_colons && !preceded_by_colons => {
                    let mut m = module.to_vec();
                    let mut k = i;
                    while t[k..].starts_with(b"super::") {
                        m.pop();
                        k += b"super::".len();
                    }
                    Some(m)
                }
                "pub" if self.depth[i] == 0 => {
                    self.reexport(word_end, module, &mut reexports);
                    None
                }
                "use" => {
                    let k = skip_ws(t, word_end);
                    let first = &t[k..k + word_len(&t[k..])];
                    if !matches!(first, b"crate" | b"self" | b"super" | b"") {
                        // Relative to this module: a child's items, or an
                        // external crate's (which resolves to this file).
                        let mut paths = Vec::new();
                        let end = use_tree(t, k, module.to_vec(), &mut paths);
                        let line = self.line_at(k);
                        out.extend(paths.into_iter().map(|path| Import { line, path }));
                        i = end.max(word_end);
                        continue;
                    }
                    None
                }
                _ => None,
            };
            if let Some(base) = base {
                let mut k = i;
                while t[k..].starts_with(b"super::") {
                    k += b"super::".len();
                }
                if t[k..].starts_with(b"self::") || t[k..].starts_with(b"crate::") {
                    k = k + (word_len(&t[k..])) + 2;
                }
                let line = self.line_at(i);
                let mut paths = Vec::new();
                let end = use_tree(t, k, base, &mut paths);
                out.extend(paths.into_iter().map(|path| Import { line, path }));
                i = end.max(word_end);
                continue;
            }
            i = word_end;
        }
        (out, reexports)
    }

    /// `pub use name::Item;` or `pub use name::{A, B};` with `name` a child
    /// module: `Item` named through this module is defined in the child.
    fn reexport(&self, from: usize, module: &[String], out: &mut Reexports) {
        let t = &self.text;
        let mut k = skip_ws(t, from);
        if t[k..].starts_with(b"(") {
            k = (k..t.len())
                .find(|&j| t[j] == b')')
                .map_or(t.len(), |j| j + 1);
            k = skip_ws(t, k);
        }
        if !t[k..].starts_with(b"use ") {
            return;
        }
        k = skip_ws(t, k + 3);
        let first = &t[k..k + word_len(&t[k..])];
        if matches!(first, b"crate" | b"self" | b"super" | b"std" | b"") {
            return;
        }
        let mut paths = Vec::new();
        use_tree(t, k, module.to_vec(), &mut paths);
        for target in paths {
            if let Some(name) = target.last() {
                let mut from = module.to_vec();
                from.push(name.clone());
                out.insert(from, target);
            }
        }
    }
}

/// Parses a use tree at `k` (`a::b::C`, `a::{b, c::D}`, `a::*`, `a as b`)
/// under `base`; pushes each full path; returns where it ended.
fn use_tree(t: &[u8], mut k: usize, base: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut path = base;
    loop {
        k = skip_ws(t, k);
        if k >= t.len() {
            break;
        }
        if t[k] == b'{' {
            k += 1;
            loop {
                k = skip_ws(t, k);
                if k >= t.len() || t[k] == b'}' {
                    k += 1;
                    break;
                }
                if t[k] == b',' {
                    k += 1;
                    continue;
                }
                let before = k;
                k = use_tree(t, k, path.clone(), out);
                if k == before {
                    k += 1;
                }
            }
            return k;
        }
        if t[k] == b'*' {
            out.push(path);
            return k + 1;
        }
        let n = word_len(&t[k..]);
        if n == 0 {
            break;
        }
        let word = String::from_utf8_lossy(&t[k..k + n]).into_owned();
        k += n;
        if word != "self" {
            path.push(word);
        }
        let next = skip_ws(t, k);
        if t[next..].starts_with(b"::") {
            k = next + 2;
            continue;
        }
        if t[next..].starts_with(b"as ") {
            let alias = skip_ws(t, next + 2);
            k = alias + word_len(&t[alias..]);
        }
        break;
    }
    if !path.is_empty() {
        out.push(path);
    }
    k
}

fn after_in(t: &[u8], i: usize) -> bool {
    i >= 3 && &t[i - 3..i] == b"in "
}

fn word_len(t: &[u8]) -> usize {
    t.iter().take_while(|&&c| is_ident(c)).count()
}

fn skip_ws(t: &[u8], mut k: usize) -> usize {
    while k < t.len() && t[k].is_ascii_whitespace() {
        k += 1;
    }
    k
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Replaces comments and the contents of string and char literals by
/// spaces, keeping newlines.
fn blank_literals(s: &[u8]) -> Vec<u8> {
    let mut out = s.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(s.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let end = if rest.starts_with(b"//") {
            rest.iter()
                .position(|&c| c == b'\n')
                .map_or(s.len(), |p| i + p)
        } else if rest.starts_with(b"/*") {
            block_comment_end(s, i)
        } else if rest.starts_with(b"r#") || rest.starts_with(b"r\"") {
            raw_string_end(s, i)
        } else if rest[0] == b'"' && (i == 0 || !is_ident(s[i - 1]) || s[i - 1] == b'b') {
            string_end(s, i + 1)
        } else if rest[0] == b'\'' {
            char_end(s, i).unwrap_or(i + 1)
        } else {
            i += 1;
            continue;
        };
        blank(&mut out, i, end);
        i = end.max(i + 1);
    }
    out
}

fn block_comment_end(s: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i + 1 < s.len() {
        if &s[i..i + 2] == b"/*" {
            depth += 1;
            i += 2;
        } else if &s[i..i + 2] == b"*/" {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    s.len()
}

fn raw_string_end(s: &[u8], start: usize) -> usize {
    let hashes = s[start + 1..].iter().take_while(|&&c| c == b'#').count();
    let open = start + 1 + hashes;
    if s.get(open) != Some(&b'"') {
        return start + 1;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    s[open + 1..]
        .windows(close.len())
        .position(|w| w == close.as_slice())
        .map_or(s.len(), |p| open + 1 + p + close.len())
}

fn string_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

/// A char literal (`'x'`, `'\n'`, `'\u{..}'`) starting at `i`; `None` for a
/// lifetime or label.
fn char_end(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i + 1) == Some(&b'\\') {
        return s[i + 2..]
            .iter()
            .position(|&c| c == b'\'')
            .map(|p| i + 2 + p + 1);
    }
    let ch_len = std::str::from_utf8(&s[i + 1..(i + 5).min(s.len())])
        .or_else(|e| std::str::from_utf8(&s[i + 1..i + 1 + e.valid_up_to()]))
        .ok()
        .and_then(|t| t.chars().next())
        .map(char::len_utf8)?;
    (s.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
}

/// Blanks every item under `#[cfg(test)]` (a test module's imports say
/// nothing about layering) and names the test-only module files.
fn drop_test_items(mut b: Vec<u8>) -> (Vec<u8>, Vec<String>) {
    let mut files = Vec::new();
    let needle = b"#[cfg(test)]";
    let mut from = 0;
    while let Some(p) = b[from..].windows(needle.len()).position(|w| w == needle) {
        let start = from + p;
        let mut k = skip_ws(&b, start + needle.len());
        while b[k..].starts_with(b"#[") {
            k = (k..b.len())
                .find(|&j| b[j] == b']')
                .map_or(b.len(), |j| j + 1);
            k = skip_ws(&b, k);
        }
        let item_end = item_end(&b, k);
        if b[k..].starts_with(b"mod ") && b[item_end - 1] == b';' {
            let name_at = skip_ws(&b, k + 4);
            let n = word_len(&b[name_at..]);
            files.push(String::from_utf8_lossy(&b[name_at..name_at + n]).into_owned());
        }
        for c in &mut b[start..item_end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = item_end.max(start + 1);
    }
    (b, files)
}

/// The end of the item starting at `k`: its matching `}` or its `;`.
fn item_end(b: &[u8], k: usize) -> usize {
    let mut depth = 0;
    for (j, &c) in b.iter().enumerate().skip(k) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            b';' if depth == 0 => return j + 1,
            _ => {}
        }
    }
    b.len()
}
