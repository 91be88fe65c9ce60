//! Error classes shared by every stage: transient (retry), rejected (this input is bad),
//! fatal (stop the run). Module errors expose their class through [`Classify`]; the runner
//! never matches on their variants.

use std::fmt;

/// How the runner reacts to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Worth retrying: I/O hiccups, timeouts, HTTP 429/5xx, a store that is briefly unreachable.
    Transient,
    /// This one input is bad; record the reason and carry on with the rest.
    Rejected,
    /// The run cannot continue (bad config, broken model, a checkpoint write that failed).
    Fatal,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Rejected => "rejected",
            ErrorClass::Fatal => "fatal",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every module error so the runner can read the class.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

/// A stage's failure for one document, as the runner records it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StageFailure {
    pub class: ErrorClass,
    pub message: String,
}

impl StageFailure {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    pub fn from_error<E: Classify + fmt::Display>(err: &E) -> Self {
        Self::new(err.class(), one_line(&err.to_string()))
    }
}

/// Error messages are printed one per line: fold any embedded newlines.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, part) in s
        .split(['\n', '\r'])
        .filter(|p| !p.trim().is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push_str(" | ");
        }
        out.push_str(part.trim());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_folds_newlines() {
        assert_eq!(one_line("a\nb\r\n\nc"), "a | b | c");
        assert_eq!(one_line("plain"), "plain");
    }
}
