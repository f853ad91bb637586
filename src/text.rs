//! Text helpers for messages: quoting what a script passed, and "did you
//! mean" hints. A leaf module: the lab, the api and the reports all use it.

/// The nearest known name to `name`, for "did you mean" hints.
pub fn nearest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    // The distance is at least the difference in length: names far longer
    // than any candidate (a 10 MB string given to help()) are compared with
    // nothing, instead of filling a table of len(name) x len(k) cells.
    let len = name.chars().count();
    known
        .filter(|k| len.abs_diff(k.chars().count()) <= max_distance(k))
        .map(|k| (strsim_distance(name, k), k))
        .filter(|(d, k)| *d <= max_distance(k))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// How far a name may be from `k` and still be suggested for it.
fn max_distance(k: &str) -> usize {
    2.max(k.len() / 3)
}

/// `s` as a report quotes it: at most `max` characters, then "…" (a script
/// can pass a string of megabytes where a name is expected).
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// Edit distance where swapping two neighbours counts once (`pnig` is one
/// step from `ping`): the optimal string alignment distance.
fn strsim_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, v) in d[0].iter_mut().enumerate() {
        *v = j;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_name() {
        let names = ["netns", "veth", "bridge"];
        assert_eq!(nearest("netn", names.iter().copied()), Some("netns"));
        assert_eq!(nearest("zzzzzz", names.iter().copied()), None);
        assert_eq!(nearest("netnsxy", names.iter().copied()), Some("netns"));
        assert_eq!(nearest("netnsxyz", names.iter().copied()), None);
    }

    #[test]
    fn clipped_names() {
        assert_eq!(clip("veth", 10), "veth");
        assert_eq!(clip("ééééé", 3), "ééé…");
    }
}
