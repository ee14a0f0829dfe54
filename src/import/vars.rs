//! Serverless Framework variables in `serverless.yml` values: `${name}`, `${app}`, `${stage}`,
//! `${org}` (the file's own top-level keys), `${env:VAR}` (this process's environment, as the
//! `sls` CLI reads it) and `${output:<stage>:<app>:<instance>.<key>}` (another imported file's
//! instance: `functionName`, `serviceId`, `serviceName`). A value naming anything else stays as
//! written and is reported, since no guess would be right.

use std::collections::HashMap;

use super::yaml::{Node, Value};

/// What `${...}` can name.
#[derive(Debug, Default)]
pub struct Vars {
    /// `name`, `app`, `stage`, `org` of the file being expanded.
    pub own: HashMap<String, String>,
    /// `<instance>.<key>` of every imported file.
    pub outputs: HashMap<String, String>,
}

/// A variable that could not be expanded: where (key path and line) and which.
pub struct Unresolved {
    /// The key path of the value.
    pub path: Vec<String>,
    /// Its line.
    pub line: usize,
    /// The reference, as written inside `${...}`.
    pub reference: String,
}

impl Vars {
    /// The top-level `name`, `app`, `stage` (default `dev`) and `org` of `root`, unexpanded.
    pub fn of(root: &Node) -> Vars {
        let mut own = HashMap::new();
        own.insert("stage".to_owned(), "dev".to_owned());
        for key in ["name", "app", "stage", "org"] {
            if let Some(value) = root.get(key).and_then(Node::text) {
                own.insert(key.to_owned(), value);
            }
        }
        Vars { own, outputs: HashMap::new() }
    }

    fn lookup(&self, reference: &str) -> Option<String> {
        let reference = reference.trim();
        if let Some(variable) = reference.strip_prefix("env:") {
            return std::env::var(variable.trim()).ok();
        }
        if let Some(output) = reference.strip_prefix("output:") {
            // `<stage>:<app>:<instance>.<key>`: every imported file is one project, so the
            // instance and key decide.
            let target = output.rsplit(':').next()?;
            return self.outputs.get(target).cloned();
        }
        self.own.get(reference).cloned()
    }

    /// `text` with every `${...}` expanded, or the first reference that cannot be.
    pub fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let inner_start = start + 2;
            let mut depth = 1;
            let mut end = None;
            let bytes = rest.as_bytes();
            let mut index = inner_start;
            while index < bytes.len() {
                if bytes[index] == b'$' && bytes.get(index + 1) == Some(&b'{') {
                    depth += 1;
                    index += 1;
                } else if bytes[index] == b'}' {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(index);
                        break;
                    }
                }
                index += 1;
            }
            let Some(end) = end else {
                // An unclosed `${` is text.
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let inner = self.expand(&rest[inner_start..end])?;
            out.push_str(&self.lookup(&inner).ok_or(inner)?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands every string of `node` in place; values that cannot be expanded stay as written.
    pub fn expand_tree(&self, node: &mut Node, path: &mut Vec<String>, unresolved: &mut Vec<Unresolved>) {
        let line = node.line;
        match &mut node.value {
            Value::String(text) if text.contains("${") => match self.expand(text) {
                Ok(expanded) => *text = expanded,
                Err(reference) => unresolved.push(Unresolved { path: path.clone(), line, reference }),
            },
            Value::Seq(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    path.push(index.to_string());
                    self.expand_tree(item, path, unresolved);
                    path.pop();
                }
            }
            Value::Map(entries) => {
                for entry in entries {
                    path.push(entry.key.clone());
                    self.expand_tree(&mut entry.value, path, unresolved);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_expand_or_are_named() {
        let mut vars = Vars::of(&super::super::yaml::parse("name: api\napp: shop\n").unwrap());
        vars.outputs.insert("fn.functionName".into(), "shop-fn".into());
        assert_eq!(vars.expand("${name}-${stage}-${app}").unwrap(), "api-dev-shop");
        assert_eq!(vars.expand("${output:${stage}:${app}:fn.functionName}").unwrap(), "shop-fn");
        assert_eq!(vars.expand("${output:dev:shop:other.serviceId}").unwrap_err(), "output:dev:shop:other.serviceId");
        assert_eq!(vars.expand("${env:SCFGATE_IMPORT_SURELY_UNSET}").unwrap_err(), "env:SCFGATE_IMPORT_SURELY_UNSET");
        assert_eq!(vars.expand("plain ${ text").unwrap(), "plain ${ text");
    }
}
