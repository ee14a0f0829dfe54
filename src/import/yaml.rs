//! The imported documents as a tree that remembers lines: every mapping key and every value
//! keeps the line it was written on, so the report can say `serverless.yml:12: inputs.layers`.
//! YAML 1.2 is a superset of JSON, so JSON OpenAPI documents are read the same way and get lines
//! too. Parsing is serde-saphyr's; its `Spanned` wrapper supplies the positions.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::Spanned;

/// A value and the line (1-based) it starts on.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the value is written (for a block mapping or list, its first entry's line).
    pub line: usize,
    /// The value.
    pub value: Value,
}

/// A YAML value; mappings keep their keys' order and lines.
#[derive(Debug, Clone)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer or a float.
    Number(serde_json::Number),
    /// Any string scalar.
    String(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key as text (`1` for an integer key).
    pub key: String,
    /// The line the key is written on: what a report about the key points at.
    pub line: usize,
    /// Its value.
    pub value: Node,
}

/// Reads a YAML (or JSON) document.
pub fn parse(text: &str) -> Result<Node, String> {
    serde_saphyr::from_str::<Node>(text).map_err(|error| error.to_string())
}

impl Node {
    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a list (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The entry `key` of a mapping.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries().iter().find(|entry| entry.key == key)
    }

    /// The value of `key` in a mapping; `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|entry| &entry.value).filter(|node| !matches!(node.value, Value::Null))
    }

    /// A string scalar; numbers and booleans as written (`memorySize: 128` read as text).
    pub fn text(&self) -> Option<String> {
        match &self.value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            _ => None,
        }
    }

    /// A boolean; `'TRUE'` and `'false'` strings too, as Tencent's own examples write them.
    pub fn boolean(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(flag) => Some(*flag),
            Value::String(text) => text.to_ascii_lowercase().parse().ok(),
            _ => None,
        }
    }

    /// A number (a numeric string too).
    pub fn number(&self) -> Option<f64> {
        match &self.value {
            Value::Number(number) => number.as_f64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// The line of the deepest node `path` reaches (segments are keys, or indices in lists).
    pub fn line_of(&self, path: &[String]) -> usize {
        let mut node = self;
        let mut line = self.line;
        for segment in path {
            let next = match &node.value {
                Value::Map(entries) => entries.iter().find(|entry| &entry.key == segment).map(|entry| {
                    line = entry.line;
                    &entry.value
                }),
                Value::Seq(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)).inspect(|item| {
                    line = item.line;
                }),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => break,
            }
        }
        line
    }

    /// The value as JSON (for the OpenAPI importer, which reads `serde_json::Value`).
    pub fn to_json(&self) -> Json {
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) => Json::Number(number.clone()),
            Value::String(text) => Json::String(text.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => {
                Json::Object(entries.iter().map(|entry| (entry.key.clone(), entry.value.to_json())).collect())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node { line: spanned.referenced.line() as usize, value: spanned.value })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Value, E> {
        Ok(Value::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        Ok(Value::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        // NaN and infinities have no JSON form; no field the importer reads takes them.
        Ok(serde_json::Number::from_f64(number).map(Value::Number).unwrap_or(Value::String(number.to_string())))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        Ok(Value::String(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Value, E> {
        Ok(Value::String(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry { key: key.value.0, line: key.referenced.line() as usize, value });
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: any scalar, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Key(text)),
            Value::Number(number) => Ok(Key(number.to_string())),
            Value::Bool(flag) => Ok(Key(flag.to_string())),
            Value::Null => Ok(Key("null".into())),
            _ => Err(de::Error::custom("a mapping key must be a scalar")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_lines() {
        let text =
            "component: scf\ninputs:\n  name: f\n  events:\n    - apigw:\n        parameters: { protocols: [http] }\n";
        let node = parse(text).unwrap();
        assert_eq!(node.entry("inputs").unwrap().line, 2);
        let path = |parts: &[&str]| parts.iter().map(|part| part.to_string()).collect::<Vec<_>>();
        assert_eq!(node.line_of(&path(&["inputs", "name"])), 3);
        assert_eq!(node.line_of(&path(&["inputs", "events", "0", "apigw", "parameters", "protocols"])), 6);
        // A path that goes nowhere stops at the deepest line it reached.
        assert_eq!(node.line_of(&path(&["inputs", "events", "7"])), 4);
        let json = parse("{\"openapi\": \"3.0.0\",\n \"paths\": {}}").unwrap();
        assert_eq!(json.to_json()["openapi"], "3.0.0");
        assert_eq!(json.entry("paths").unwrap().line, 2);
    }
}
