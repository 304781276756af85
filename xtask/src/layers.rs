//! `cargo xtask layers`: the import graph of each crate's modules, and the check that it has no
//! circle (a unit test runs it with every test run).
//!
//! What counts: a module's references to `crate::…` and `super::…` paths in its code (comments
//! and doc links aside). They are reduced to edges between sibling modules — `web::dashboard`
//! using `web::csv` is an edge `dashboard → csv` inside `web`; `api::sync` using `relay::Hub` is
//! an edge `api → relay` at the crate's top. A module using its own parent or its own children is
//! not an edge: a folder module and its private files are one unit. Paths relative to the
//! current module (`use child::…`) and glob imports (`use super::*`) are not followed; the
//! crates' layered modules name what they import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose modules must not import in circles.
pub const CRATES: &[&str] = &["shared/src", "domain/src", "server/src", "client/src", "harness/src", "sim/src"];

type ModPath = Vec<String>;

/// Edges between sibling modules, by the scope (parent module) they live in.
#[derive(Default, Debug)]
pub struct Graph {
    pub edges: BTreeMap<ModPath, BTreeMap<String, BTreeSet<String>>>,
}

fn module_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("a file");
    match last.as_str() {
        "mod.rs" | "lib.rs" | "main.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Code without comments (doc links name modules without importing them) or string literals.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        // Drop the insides of string literals (SQL and messages mention `crate::` rarely, but
        // never as an import).
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
                out.push('"');
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The paths a piece of code refers to through `crate::` or `super::`, as written (each a list
/// of segments starting with `crate` or `super`), groups `{a, b::c}` expanded.
fn referenced_paths(code: &str) -> Vec<Vec<String>> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts = rest.starts_with("crate::") || rest.starts_with("super::");
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if starts && boundary {
            let (paths, end) = parse_path(&bytes, i);
            out.extend(paths);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Parses `seg::seg::{group}` from `start`; returns every path it names and where it ended.
fn parse_path(s: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    let mut i = start;
    loop {
        let begin = i;
        while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
            i += 1;
        }
        if i > begin {
            segs.push(s[begin..i].iter().collect::<String>());
        }
        if i + 1 < s.len() && s[i] == ':' && s[i + 1] == ':' {
            i += 2;
            if i < s.len() && s[i] == '{' {
                // A group: split at top-level commas, parse each member as a path of its own.
                let mut depth = 0;
                let mut member_start = i + 1;
                let mut out = Vec::new();
                let mut j = i;
                while j < s.len() {
                    match s[j] {
                        '{' => depth += 1,
                        '}' | ',' if depth == 1 => {
                            let member: Vec<char> =
                                s[member_start..j].iter().copied().filter(|c| !c.is_whitespace()).collect();
                            if !member.is_empty() {
                                let (paths, _) = parse_path(&member, 0);
                                for p in paths {
                                    let mut full = segs.clone();
                                    full.extend(p.into_iter().filter(|x| x != "self"));
                                    out.push(full);
                                }
                            }
                            member_start = j + 1;
                            if s[j] == '}' {
                                return (out, j + 1);
                            }
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                    j += 1;
                }
                return (out, j);
            }
            continue;
        }
        return (vec![segs], i);
    }
}

/// The absolute module path a written path names, from the module it is written in.
fn resolve(from: &ModPath, written: &[String]) -> Option<ModPath> {
    let mut base: ModPath;
    let mut rest = written;
    match written.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &written[1..];
        }
        Some("super") => {
            // In `a/b.rs` (module a::b) and in `a/b/mod.rs` (also a::b), `super` is `a`.
            base = from.clone();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Builds the graph of one crate's source folder.
pub fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| module_path(src, f)).collect();
    let mut g = Graph::default();
    for file in &files {
        let from = module_path(src, file);
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for written in referenced_paths(&code_of(&text)) {
            let Some(target) = resolve(&from, &written) else { continue };
            // The first segment where the two paths part: an edge between siblings there.
            let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common >= from.len() || common >= target.len() {
                continue; // a module and its own ancestors or descendants
            }
            let scope: ModPath = from[..common].to_vec();
            let mut sibling = scope.clone();
            sibling.push(target[common].clone());
            if !modules.contains(&sibling) {
                continue; // an item of the parent, not a module
            }
            g.edges.entry(scope).or_default().entry(from[common].clone()).or_default().insert(target[common].clone());
        }
    }
    g
}

/// Every circle of imports: (scope, the modules around it).
pub fn circles(g: &Graph) -> Vec<(ModPath, Vec<String>)> {
    let mut found = Vec::new();
    for (scope, edges) in &g.edges {
        // Depth-first search for a back edge, reporting the loop it closes.
        fn visit(
            n: &str,
            edges: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            out: &mut Vec<Vec<String>>,
        ) {
            if let Some(i) = stack.iter().position(|x| x == n) {
                out.push(stack[i..].to_vec());
                return;
            }
            if done.contains(n) {
                return;
            }
            stack.push(n.to_owned());
            for m in edges.get(n).into_iter().flatten() {
                visit(m, edges, stack, done, out);
            }
            stack.pop();
            done.insert(n.to_owned());
        }
        let mut done = BTreeSet::new();
        let mut loops = Vec::new();
        for n in edges.keys() {
            visit(n, edges, &mut Vec::new(), &mut done, &mut loops);
        }
        found.extend(loops.into_iter().map(|l| (scope.clone(), l)));
    }
    found
}

/// Prints each crate's layers and fails on a circle.
pub fn run(root: &Path) -> anyhow::Result<()> {
    let mut bad = Vec::new();
    for krate in CRATES {
        let g = graph(&root.join(krate));
        println!("{krate}");
        for (scope, edges) in &g.edges {
            let at = if scope.is_empty() { "(top)".to_owned() } else { scope.join("::") };
            for (from, to) in edges {
                println!("  {at}: {from} -> {}", to.iter().cloned().collect::<Vec<_>>().join(", "));
            }
        }
        for (scope, l) in circles(&g) {
            bad.push(format!("{krate}: in {:?}: {} -> {}", scope, l.join(" -> "), l[0]));
        }
    }
    if !bad.is_empty() {
        anyhow::bail!("modules import each other in circles:\n  {}", bad.join("\n  "));
    }
    println!("no circles");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn no_module_imports_one_that_imports_it_back() {
        for krate in CRATES {
            let g = graph(&root().join(krate));
            let layered = ["shared/src", "domain/src", "server/src", "client/src"];
            assert!(!g.edges.is_empty() || !layered.contains(krate), "{krate}: no edges found; is the parser broken?");
            let c = circles(&g);
            assert!(c.is_empty(), "{krate}: modules import each other in circles: {c:?}");
        }
    }

    /// The check finds a circle when there is one.
    #[test]
    fn a_circle_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path();
        std::fs::create_dir_all(tmp.join("web")).unwrap();
        std::fs::write(tmp.join("main.rs"), "mod a; mod web;").unwrap();
        std::fs::write(tmp.join("a.rs"), "use crate::{web::{self, page}, b};\n// crate::nothing\n").unwrap();
        std::fs::write(tmp.join("web/mod.rs"), "mod page; mod x;").unwrap();
        std::fs::write(tmp.join("web/page.rs"), "fn f() { super::x::g(); }").unwrap();
        std::fs::write(tmp.join("web/x.rs"), "use super::page::f; use crate::a::A;").unwrap();
        let c = circles(&graph(tmp));
        let names: BTreeSet<Vec<String>> = c.iter().map(|(_, l)| l.to_vec()).collect();
        assert!(names.contains(&vec!["page".to_owned(), "x".to_owned()]), "{c:?}");
        assert!(names.contains(&vec!["a".to_owned(), "web".to_owned()]), "{c:?}");
    }
}
