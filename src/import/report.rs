//! What `scfgate import` tells the user on stderr, item by item: every key it did not carry over
//! (`<file>:<line>: <key>: not carried over: <why>`) and every key it carried over differently
//! from Tencent (`... note: ...`). The importer never drops a key without an item here.

use std::fmt;

/// Whether a key was left out, or carried over with a difference worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The key has no scfgate equivalent (or its value cannot be honoured).
    NotCarried,
    /// The key was carried over, but not exactly as Tencent behaves.
    Note,
}

/// One reported key.
#[derive(Debug, Clone)]
pub struct Item {
    /// The document, as given on the command line.
    pub file: String,
    /// The line of the key, when the document gives one.
    pub line: Option<usize>,
    /// The key's path, e.g. `inputs.events[0].apigw.parameters.netTypes`.
    pub key: String,
    /// Which kind of item.
    pub kind: Kind,
    /// Why.
    pub why: String,
}

impl fmt::Display for Item {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        let kind = match self.kind {
            Kind::NotCarried => "not carried over",
            Kind::Note => "note",
        };
        write!(formatter, ": {}: {kind}: {}", self.key, self.why)
    }
}

/// The items of one import, in the order they were found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every item.
    pub items: Vec<Item>,
}

impl Report {
    /// Adds an item.
    pub fn push(&mut self, file: &str, line: Option<usize>, key: &str, kind: Kind, why: impl Into<String>) {
        self.items.push(Item { file: file.to_owned(), line, key: key.to_owned(), kind, why: why.into() });
    }
}

/// A key path as the report writes it: `a.b[0].c` from `["a", "b", "0", "c"]`.
pub fn dotted(path: &[String]) -> String {
    let mut text = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|byte| byte.is_ascii_digit()) {
            text.push_str(&format!("[{segment}]"));
        } else {
            if !text.is_empty() {
                text.push('.');
            }
            text.push_str(segment);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_read_file_line_key_why() {
        let path: Vec<String> = ["inputs", "events", "0", "apigw"].iter().map(|part| part.to_string()).collect();
        assert_eq!(dotted(&path), "inputs.events[0].apigw");
        let item = Item {
            file: "a/serverless.yml".into(),
            line: Some(7),
            key: "inputs.layers".into(),
            kind: Kind::NotCarried,
            why: "layers are not mounted".into(),
        };
        assert_eq!(item.to_string(), "a/serverless.yml:7: inputs.layers: not carried over: layers are not mounted");
    }
}
