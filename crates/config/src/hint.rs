//! "Did you mean" hints for misspelled field names and enum values.
//!
//! Receives: an unknown name and the known ones (or a serde message listing them). Hands on: a
//! message with the closest known name, as `istioctl validate` users expect.

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The known name closest to `unknown`, if it is close enough to be a likely typo.
pub fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if unknown.chars().count() > 64 {
        return None;
    }
    let folded = fold(unknown);
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = if fold(k) == folded {
            0
        } else {
            distance(unknown, k)
        };
        let limit = (unknown.chars().count().max(k.chars().count()) / 3).clamp(1, 3);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Backtick-quoted names after "expected" in a serde message, looked for only after the
/// unknown name (which may itself contain "expected", as in `expectedStatus`).
fn expected_names(msg: &str) -> Vec<&str> {
    let after_name = msg.splitn(3, '`').nth(2).unwrap_or_default();
    let Some(pos) = after_name.find("expected") else {
        return Vec::new();
    };
    after_name[pos..].split('`').skip(1).step_by(2).collect()
}

/// Rewrites serde's "unknown field/variant `x`, expected …" into "… `x`, did you mean `y`?"
/// when a known name is close; other messages are returned unchanged.
pub fn improve(msg: &str) -> String {
    for what in ["unknown field", "unknown variant"] {
        let Some(rest) = msg.strip_prefix(what) else {
            continue;
        };
        let name = rest.split('`').nth(1).unwrap_or_default();
        if let Some(best) = closest(name, expected_names(msg)) {
            return format!("{what} `{name}`, did you mean `{best}`?");
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(closest("rout", ["route", "redirect"]), Some("route"));
        assert_eq!(closest("retires", ["retries", "rewrite"]), Some("retries"));
        assert_eq!(
            closest("per_try_timeout", ["perTryTimeout"]),
            Some("perTryTimeout")
        );
        assert_eq!(closest("zzzzzz", ["route", "redirect"]), None);
        assert_eq!(
            improve("unknown field `rout`, expected one of `name`, `match`, `route`"),
            "unknown field `rout`, did you mean `route`?"
        );
        assert_eq!(
            improve("unknown variant `SIMPEL`, expected one of `SIMPLE`, `MUTUAL`"),
            "unknown variant `SIMPEL`, did you mean `SIMPLE`?"
        );
        assert_eq!(
            improve("unknown field `expectedStatus`, expected one of `path`, `expectedStatuses`"),
            "unknown field `expectedStatus`, did you mean `expectedStatuses`?"
        );
        assert_eq!(
            improve("unknown field `x`, there are no fields"),
            "unknown field `x`, there are no fields"
        );
    }
}
