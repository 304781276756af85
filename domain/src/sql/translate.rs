//! SQLite's numbered parameters (`?1`) as PostgreSQL's (`$1`): the one rewrite the shared
//! dialect needs. Quoted text, quoted names and comments are left alone.

pub fn numbered_to_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut unnumbered = 0;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                out.push('$');
                if chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    while let Some(d) = chars.next_if(|d| d.is_ascii_digit()) {
                        out.push(d);
                    }
                } else {
                    unnumbered += 1;
                    out.push_str(&unnumbered.to_string());
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered_to_dollars as t;

    #[test]
    fn numbered_parameters_become_dollars_outside_quotes_and_comments() {
        assert_eq!(t("SELECT a FROM b WHERE c = ?1 AND d = ?12"), "SELECT a FROM b WHERE c = $1 AND d = $12");
        assert_eq!(t("SELECT '?1', \"?2\" -- ?3\n, ?4"), "SELECT '?1', \"?2\" -- ?3\n, $4");
        assert_eq!(t("VALUES (?, ?)"), "VALUES ($1, $2)");
        assert_eq!(t("SELECT 'it''s ?1' = ?1"), "SELECT 'it''s ?1' = $1");
    }
}
