//! Quoted passages. Warnings, news and research quote smugglers' promises ("100%
//! guaranteed, pay on arrival") to expose them; an advert rarely puts its own offer in
//! quotation marks. Indicators inside quotes are therefore weighed apart from the others.

/// Spans `[start, end)` in code points of the passages between quotation marks, marks
/// excluded. Nested or unbalanced marks are read leniently: an opening mark without its
/// closing one quotes nothing.
pub fn quoted_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open: Option<(char, usize)> = None;
    for (i, c) in text.chars().enumerate() {
        match open {
            Some((closing, start)) if c == closing => {
                if i > start {
                    spans.push((start, i));
                }
                open = None;
            }
            Some(_) => {}
            None => {
                if let Some(closing) = closing_mark(c) {
                    open = Some((closing, i + 1));
                }
            }
        }
    }
    spans
}

/// The mark that closes a passage opened by `c`, if `c` opens one.
fn closing_mark(c: char) -> Option<char> {
    Some(match c {
        '"' => '"',
        '“' => '”',
        '„' => '“',
        '«' => '»',
        '»' => '«',
        '‹' => '›',
        '「' => '」',
        '『' => '』',
        '＂' => '＂',
        _ => return None,
    })
}

/// Whether `[start, end)` lies inside one of `spans`.
pub fn inside(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    spans.iter().any(|&(s, e)| s <= start && end <= e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        quoted_spans(text)
            .into_iter()
            .map(|(s, e)| chars[s..e].iter().collect())
            .collect()
    }

    #[test]
    fn finds_passages_between_marks_of_many_languages() {
        assert_eq!(
            quoted(r#"Posts saying "100% safe, pay on arrival" are lies"#),
            ["100% safe, pay on arrival"]
        );
        assert_eq!(
            quoted("Ils promettent « passage garanti »."),
            [" passage garanti "]
        );
        assert_eq!(
            quoted("„Zahlung bei Ankunft“ ist eine Falle"),
            ["Zahlung bei Ankunft"]
        );
        assert_eq!(quoted("他们说「包过」，别信"), ["包过"]);
        assert_eq!(quoted("“a” and “b”"), ["a", "b"]);
    }

    #[test]
    fn an_unclosed_mark_quotes_nothing() {
        assert!(quoted("5\" screen, boat at 9").is_empty());
        assert!(quoted("no quotes at all").is_empty());
    }

    #[test]
    fn inside_checks_containment() {
        let spans = [(3, 10)];
        assert!(inside(&spans, 3, 10));
        assert!(inside(&spans, 4, 6));
        assert!(!inside(&spans, 2, 6));
        assert!(!inside(&spans, 8, 11));
    }
}
