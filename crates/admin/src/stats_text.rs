//! `/stats`: the metrics for people, one `name{labels}: value` per line, sorted, as Envoy's
//! `/stats` lists its counters. Histogram buckets are left out (their `_count` and `_sum`
//! stay); `?filter=TEXT` keeps the lines that contain TEXT.

/// Renders the Prometheus exposition `prometheus` as text lines.
pub fn render(prometheus: &str, filter: Option<&str>) -> String {
    let mut lines: Vec<String> = prometheus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next().unwrap_or(series);
            (!name.ends_with("_bucket")).then(|| format!("{series}: {value}"))
        })
        .filter(|l| filter.is_none_or(|f| l.contains(f)))
        .collect();
    lines.sort();
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The `filter` query parameter, percent-decoded for the common cases (`%7B`, `%22`, `%3D`…).
pub fn filter_param(query: &str) -> Option<String> {
    let raw = query.split('&').find_map(|p| p.strip_prefix("filter="))?;
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => return None,
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_sorted_without_buckets_and_filterable() {
        let prom =
            "# HELP a x\n# TYPE a counter\nb_total{x=\"1\"} 3\na_bucket{le=\"1\"} 1\na_count 2\n";
        assert_eq!(render(prom, None), "a_count: 2\nb_total{x=\"1\"}: 3\n");
        assert_eq!(render(prom, Some("b_")), "b_total{x=\"1\"}: 3\n");
        assert_eq!(
            filter_param("a=1&filter=istio%5Frequests"),
            Some("istio_requests".into())
        );
        assert_eq!(filter_param("filter=%zz"), None);
        assert_eq!(filter_param("x=1"), None);
    }
}
