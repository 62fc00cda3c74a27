//! One bad document per loader / YAML diagnostic, asserting line, field path and message.

use super::*;

/// Asserts an error with exactly this line and path whose message contains `msg`.
#[track_caller]
fn expect_error(text: &str, line: u32, path: &str, msg: &str) {
    let l = load_str("t.yaml", text);
    let found = l
        .diagnostics
        .iter()
        .any(|d| d.is_error() && d.line == line && d.path == path && d.message.contains(msg));
    assert!(
        found,
        "expected error at line {line} {path:?}: {msg}\nin:\n{text}\ngot:\n{}",
        show(&l)
    );
}

const HEAD: &str = "apiVersion: networking.istio.io/v1\nkind: Gateway\n";

#[test]
fn header_field_rules() {
    for (text, line, path, msg) in [
        (
            "apiVersion: 1\nkind: Gateway\nmetadata: {name: a}\n".to_string(),
            1,
            "apiVersion",
            "apiVersion must be a string",
        ),
        (
            "apiVersion: networking.istio.io/v1\nkind: [Gateway]\nmetadata: {name: a}\n"
                .to_string(),
            2,
            "kind",
            "kind must be a string",
        ),
        (
            format!("{HEAD}metadata: {{name: a}}\nzzz: 1\n"),
            4,
            "zzz",
            "unknown field `zzz`",
        ),
        (
            format!("{HEAD}spec: {{}}\n"),
            1,
            "metadata.name",
            "name is required",
        ),
        (
            format!("{HEAD}metadata: {{name: a, nmespace: x}}\n"),
            3,
            "metadata.nmespace",
            "unknown field `nmespace`, did you mean `namespace`?",
        ),
    ] {
        expect_error(&text, line, path, msg);
    }
    // Without a close known name there is no hint.
    let l = load_str("t.yaml", &format!("{HEAD}metadata: {{name: a}}\nzzz: 1\n"));
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message == "unknown field `zzz`"),
        "{}",
        show(&l)
    );
    // A document without metadata still has its spec checked.
    expect_error(
        &format!("{HEAD}spec: {{servers: [], rout: 1}}\n"),
        3,
        "spec.rout",
        "unknown field `rout`",
    );
}

#[test]
fn yaml_structure_rules() {
    for (text, line, path, msg) in [
        (
            "? [a, b]\n: c\n".to_string(),
            1,
            "",
            "mapping keys must be scalars",
        ),
        ("a: &x 1\n---\nb: *x\n".to_string(), 3, "", "unknown alias"),
        ("a: &x [b, *x]\n".to_string(), 1, "", "unknown alias"),
        (
            format!("{}1{}", "[".repeat(150), "]".repeat(150)),
            1,
            "",
            "document is nested more than 100 levels deep",
        ),
        (
            format!("{HEAD}metadata: {{name: a}}\nspec: {{servers: .nan}}\n"),
            4,
            "spec.servers",
            "`.nan` is not a finite number",
        ),
    ] {
        expect_error(&text, line, path, msg);
    }
}

#[test]
fn node_budget_rule() {
    // Each alias costs one node plus its target, so the budget runs out at b4[7][0][7][0][7][0].
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..6 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!("b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let l = load_str("b.yaml", &bomb);
    let d = l
        .diagnostics
        .iter()
        .find(|d| d.message.contains("document expands to more than"))
        .unwrap_or_else(|| panic!("{}", show(&l)));
    assert_eq!(
        (d.line, d.path.as_str(), d.message.as_str()),
        (
            1,
            "b4[7][0][7][0][7][0]",
            "document expands to more than 1000000 nodes"
        ),
        "{d}"
    );
}

#[test]
fn unreadable_paths_have_line_zero() {
    let dir =
        std::env::temp_dir().join(format!("rampart-config-unreadable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("latin1.yaml"), b"a: \xe9\n").unwrap();
    let l = load_paths(&[dir.join("missing.yaml"), dir.join("latin1.yaml")]);
    let got: Vec<_> = l
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.line,
                d.path.as_str(),
                d.message.starts_with("cannot read: "),
            )
        })
        .collect();
    assert_eq!(got, [(0, "", true), (0, "", true)], "{}", show(&l));
    assert!(l.diagnostics[0].file.ends_with("missing.yaml"));
    assert!(l.diagnostics[1].file.ends_with("latin1.yaml"));
    std::fs::remove_dir_all(&dir).unwrap();
}
