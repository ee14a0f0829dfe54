//! Every way an admin call fails, and the one place that turns a failure into a status and a
//! JSON body: `{"error": {"code", "message", "field"?, "location"?}}`. Codes follow Tencent
//! Cloud API's error-code style (`ResourceNotFound`, `InvalidParameterValue`, ...).

use crate::config::ConfigError;

/// A failed admin call.
#[derive(Debug)]
pub enum AdminError {
    /// No token, or the wrong one.
    Unauthorized,
    /// A browser page of another origin tried to call the admin API.
    CrossOrigin,
    /// Without a token, a request that names something other than this loopback listener as its
    /// `Host`: a DNS-rebinding page (its own name, re-resolved to 127.0.0.1) would send its name.
    ForeignHost {
        /// The `Host` the request named (empty when it named none).
        host: String,
        /// The listener's port.
        port: u16,
    },
    /// The resource does not exist.
    NotFound(String),
    /// No such endpoint, or not with this method.
    NoEndpoint,
    /// Malformed input (bad JSON, bad query value); `field` names it when one field is at fault.
    BadRequest {
        /// What is wrong.
        message: String,
        /// The field, when one is at fault.
        field: Option<String>,
    },
    /// The configuration that would result is invalid; the same error a config file would get.
    Invalid(ConfigError),
    /// A resource with that name or id already exists.
    AlreadyExists(String),
    /// The resource is used by another (a published stage, a usage plan, an API).
    InUse(String),
    /// The update names a version other than the current one: someone changed it meanwhile.
    StaleVersion {
        /// What was changed.
        resource: String,
        /// The version the caller sent.
        sent: u64,
        /// The current version.
        current: u64,
    },
    /// An update without the version it was based on.
    VersionRequired,
    /// The request body is larger than the admin API accepts.
    TooLarge,
    /// The admin listener has as many connections open as it allows, each being answered.
    Busy,
    /// The configuration is valid but could not be put into service (a function host failed to
    /// start), or the state could not be written. Nothing changed.
    Failed(String),
    /// Changes are not taken for now (a binary upgrade is handing the state to a new process,
    /// or etcd does not answer).
    Unavailable(String),
    /// etcd's state changed since this node read it. The change is tried again over the newer
    /// state (`crate::admin::api::handle`); a caller sees this only when that kept losing.
    StateMoved,
}

impl AdminError {
    /// A failed save of the state.
    pub fn from_store(error: crate::admin::storage::StoreError) -> AdminError {
        use crate::admin::storage::StoreError;
        match error {
            StoreError::Moved => AdminError::StateMoved,
            StoreError::Unavailable(message) => {
                AdminError::Unavailable(format!("the state store is unavailable: {message}"))
            }
            StoreError::Failed(message) => AdminError::Failed(message),
        }
    }

    /// A bad value in one field.
    pub fn field(field: &str, message: impl Into<String>) -> AdminError {
        AdminError::BadRequest { message: message.into(), field: Some(field.to_owned()) }
    }

    /// Bad input not tied to one field.
    pub fn bad(message: impl Into<String>) -> AdminError {
        AdminError::BadRequest { message: message.into(), field: None }
    }

    /// The HTTP status: the only place one is chosen.
    pub fn status(&self) -> u16 {
        match self {
            AdminError::Unauthorized => 401,
            AdminError::CrossOrigin | AdminError::ForeignHost { .. } => 403,
            AdminError::NotFound(_) | AdminError::NoEndpoint => 404,
            AdminError::BadRequest { .. } | AdminError::Invalid(_) => 400,
            AdminError::AlreadyExists(_)
            | AdminError::InUse(_)
            | AdminError::StaleVersion { .. }
            | AdminError::StateMoved => 409,
            AdminError::TooLarge => 413,
            AdminError::Busy | AdminError::Unavailable(_) => 503,
            AdminError::VersionRequired => 428,
            AdminError::Failed(_) => 500,
        }
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::Unauthorized => "AuthFailure",
            AdminError::CrossOrigin => "AuthFailure.CrossOrigin",
            AdminError::ForeignHost { .. } => "AuthFailure.InvalidHost",
            AdminError::NotFound(_) => "ResourceNotFound",
            AdminError::NoEndpoint => "InvalidAction",
            AdminError::BadRequest { .. } => "InvalidParameter",
            AdminError::Invalid(_) => "InvalidParameterValue",
            AdminError::AlreadyExists(_) => "ResourceInUse.AlreadyExists",
            AdminError::InUse(_) => "ResourceInUse",
            AdminError::StaleVersion { .. } => "FailedOperation.VersionConflict",
            AdminError::VersionRequired => "MissingParameter.Version",
            AdminError::TooLarge => "RequestSizeLimitExceeded",
            AdminError::Busy => "RequestLimitExceeded",
            AdminError::Failed(_) => "FailedOperation",
            AdminError::Unavailable(_) => "ResourceUnavailable",
            AdminError::StateMoved => "FailedOperation.ConcurrentChange",
        }
    }

    /// The human-readable message.
    pub fn message(&self) -> String {
        match self {
            AdminError::Unauthorized => "a valid admin token is required: send `Authorization: Bearer <token>`".into(),
            AdminError::CrossOrigin => "cross-origin requests to the admin API are refused".into(),
            AdminError::ForeignHost { host, port } => {
                let named = if host.is_empty() { "no Host".to_owned() } else { format!("Host `{host}`") };
                format!(
                    "the admin API has no token, so it answers only requests addressed to a loopback name of \
                     this machine, and this one has {named}: use localhost:{port}, 127.0.0.1:{port} (any \
                     127.0.0.0/8 address) or [::1]:{port}, with or without the port (another name could be a \
                     web page's own, re-resolved to 127.0.0.1: DNS rebinding); set {} to admit other names",
                    super::TOKEN_ENV
                )
            }
            AdminError::NotFound(message) | AdminError::AlreadyExists(message) | AdminError::InUse(message) | AdminError::Failed(message) | AdminError::Unavailable(message) => {
                message.clone()
            }
            AdminError::NoEndpoint => "no such endpoint (see docs/admin-api.md)".into(),
            AdminError::BadRequest { message, .. } => message.clone(),
            AdminError::Invalid(error) => match (&error.location, &error.field) {
                (Some(location), Some(field)) => format!("{location}: field `{field}`: {}", error.message),
                (Some(location), None) => format!("{location}: {}", error.message),
                (None, Some(field)) => format!("field `{field}`: {}", error.message),
                (None, None) => error.message.clone(),
            },
            AdminError::StaleVersion { resource, sent, current } => format!(
                "{resource} was changed by someone else: you sent version {sent}, it is now at version {current}; read it again and reapply your change"
            ),
            AdminError::VersionRequired => {
                "an update must say which version it is based on: send `If-Match: <version>` or a `version` field".into()
            }
            AdminError::TooLarge => "the request body is larger than the admin API accepts".into(),
            AdminError::Busy => {
                "every connection the admin API allows is in the middle of a request; try again".into()
            }
            AdminError::StateMoved => {
                "other nodes kept changing the state while this change was tried on top of theirs; try again".into()
            }
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code(), "message": self.message() });
        match self {
            AdminError::BadRequest { field: Some(field), .. } => error["field"] = field.as_str().into(),
            AdminError::Invalid(config) => {
                if let Some(field) = &config.field {
                    error["field"] = field.as_str().into();
                }
                if let Some(location) = &config.location {
                    error["location"] = location.as_str().into();
                }
            }
            AdminError::StaleVersion { current, .. } => error["current_version"] = (*current).into(),
            _ => {}
        }
        serde_json::json!({ "error": error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors_name_the_resource_and_field_but_not_the_file() {
        let error = AdminError::Invalid(ConfigError {
            file: "scfgate.toml".into(),
            line_column: None,
            location: Some("service `shop` api `item`".into()),
            field: Some("function".into()),
            message: "no [[function]] is defined as `default/shop:$LATEST`".into(),
        });
        assert_eq!(error.status(), 400);
        let body = error.body();
        assert_eq!(
            body["error"]["message"],
            "service `shop` api `item`: field `function`: no [[function]] is defined as `default/shop:$LATEST`"
        );
        assert_eq!(body["error"]["field"], "function");
    }
}
