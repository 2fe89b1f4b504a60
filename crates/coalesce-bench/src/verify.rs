//! The answers of the GraphQL and HTTP scenarios (6 and 7), each checked against the data the
//! seeds imply: a fast wrong answer is not a result, and a server that has lost its database
//! answers errors faster than it ever answered data.

use std::fmt;

/// The tally of one run's answers: how many were checked, how many were wrong, and why the
/// first wrong one was.
#[derive(Debug)]
pub struct Verdicts {
    what: String,
    checked: u64,
    wrong: u64,
    first_wrong: Option<String>,
}

impl Verdicts {
    /// An empty tally for the run `what` names (scenario, query, library or mode).
    pub fn new(what: impl Into<String>) -> Verdicts {
        Verdicts {
            what: what.into(),
            checked: 0,
            wrong: 0,
            first_wrong: None,
        }
    }

    /// Counts one answer: `None` if it was right, or what was wrong with it.
    pub fn record(&mut self, wrong: Option<String>) {
        self.checked += 1;
        if let Some(why) = wrong {
            self.wrong += 1;
            self.first_wrong.get_or_insert(why);
        }
    }

    /// Ends the run: panics, saying how many answers were wrong and why the first was, unless
    /// every answer was right. Its figures would then measure something other than the query.
    pub fn assert_all_right(self) {
        assert!(self.wrong == 0, "{self}");
    }
}

impl fmt::Display for Verdicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {} answers were wrong, so its figures are not the query's",
            self.what, self.wrong, self.checked
        )?;
        if let Some(why) = &self.first_wrong {
            write!(f, "; the first: {why}")?;
        }
        Ok(())
    }
}

/// `text`, or its first `max` characters and how many more there were: a wrong answer quoted in
/// a message, without 10 KB of bands.
pub fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wrong_answer_among_right_ones_fails_the_run_and_is_quoted() {
        let mut verdicts = Verdicts::new("HTTP `messages`, batched");
        for i in 0..10 {
            verdicts.record((i == 6).then(|| "errors: no such table: messages".to_string()));
        }
        let message = verdicts.to_string();
        assert_eq!(
            message,
            "HTTP `messages`, batched: 1 of 10 answers were wrong, so its figures are not the \
             query's; the first: errors: no such table: messages"
        );
        let caught = std::panic::catch_unwind(|| verdicts.assert_all_right());
        assert!(caught.is_err());
    }

    #[test]
    fn right_answers_pass() {
        let mut verdicts = Verdicts::new("GraphQL `bands`");
        verdicts.record(None);
        verdicts.assert_all_right();
    }

    #[test]
    fn an_excerpt_cuts_long_text_on_a_character_boundary() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("ééé", 2), "éé… (2 more bytes)");
    }
}
