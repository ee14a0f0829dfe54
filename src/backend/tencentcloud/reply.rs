//! SCF's `Invoke` answer, read with the zero-allocation `json_scan`: the function's value
//! (`Response.Result.RetMsg` when `InvokeResult` is 0), the function's failure (a non-zero
//! `InvokeResult` with `ErrMsg`), or the API's refusal (`Response.Error`). Strings are handed out
//! still escaped; the caller decodes only the one it uses.
//!
//! The shapes (Tencent Cloud API 3.0, SCF `Invoke`, version 2018-04-16):
//! `{"Response":{"Result":{"RetMsg":"..","ErrMsg":"","InvokeResult":0,..},"RequestId":".."}}` and
//! `{"Response":{"Error":{"Code":"..","Message":".."},"RequestId":".."}}`.

use crate::backend::json_scan::{Invalid, Kind, RawString, Scanner};

/// What the API said.
#[derive(Debug, Clone, Copy)]
pub enum InvokeAnswer<'a> {
    /// The function returned: its value, as text (`RetMsg`).
    Value(RawString<'a>),
    /// The function ran and failed: SCF's status code (`InvokeResult`, e.g. 430 for an exception
    /// in user code, 433 for its time limit) and the error text (`ErrMsg`, else `RetMsg`).
    FunctionFailed {
        /// `InvokeResult`.
        code: i64,
        /// The error text.
        message: RawString<'a>,
    },
    /// The API refused the call (bad signature, unknown function, ...): `Error.Code` and
    /// `Error.Message`.
    Refused {
        /// E.g. `ResourceNotFound.Function`.
        code: RawString<'a>,
        /// Tencent's explanation.
        message: RawString<'a>,
    },
}

const EMPTY: RawString<'static> = RawString { raw: b"", escaped: false };

/// Reads an `Invoke` response body; anything else is [`Invalid`].
pub fn parse(body: &[u8]) -> Result<InvokeAnswer<'_>, Invalid> {
    std::str::from_utf8(body).map_err(|_| Invalid)?;
    let mut scanner = Scanner::new(body);
    let mut answer = None;
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(first)? {
        first = false;
        if key.raw == b"Response" {
            answer = Some(parse_response(&mut scanner)?);
        } else {
            scanner.skip_value()?;
        }
    }
    scanner.finish()?;
    answer.ok_or(Invalid)
}

fn parse_response<'a>(scanner: &mut Scanner<'a>) -> Result<InvokeAnswer<'a>, Invalid> {
    let (mut error, mut result) = (None, None);
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(first)? {
        first = false;
        match key.raw {
            b"Error" => {
                let (mut code, mut message) = (EMPTY, EMPTY);
                for_each_field(scanner, |name, scanner| {
                    match name {
                        b"Code" => code = optional_string(scanner)?,
                        b"Message" => message = optional_string(scanner)?,
                        _ => scanner.skip_value()?,
                    }
                    Ok(())
                })?;
                error = Some(InvokeAnswer::Refused { code, message });
            }
            b"Result" if scanner.peek_kind()? == Kind::Object => {
                let (mut ret_msg, mut err_msg, mut invoke_result) = (EMPTY, EMPTY, None);
                for_each_field(scanner, |name, scanner| {
                    match name {
                        b"RetMsg" => ret_msg = optional_string(scanner)?,
                        b"ErrMsg" => err_msg = optional_string(scanner)?,
                        b"InvokeResult" => invoke_result = Some(integer(scanner.number()?)?),
                        _ => scanner.skip_value()?,
                    }
                    Ok(())
                })?;
                result = Some(match invoke_result.ok_or(Invalid)? {
                    0 => InvokeAnswer::Value(ret_msg),
                    code => InvokeAnswer::FunctionFailed {
                        code,
                        message: if err_msg.raw.is_empty() { ret_msg } else { err_msg },
                    },
                });
            }
            _ => scanner.skip_value()?,
        }
    }
    // An error wins: Tencent documents that a response with `Error` is a failed call.
    error.or(result).ok_or(Invalid)
}

fn for_each_field<'a>(
    scanner: &mut Scanner<'a>,
    mut field: impl FnMut(&[u8], &mut Scanner<'a>) -> Result<(), Invalid>,
) -> Result<(), Invalid> {
    scanner.begin_object()?;
    let mut first = true;
    while let Some(key) = scanner.next_key(first)? {
        first = false;
        field(key.raw, scanner)?;
    }
    Ok(())
}

/// A string, or `null` read as empty (Tencent marks several fields "may return null").
fn optional_string<'a>(scanner: &mut Scanner<'a>) -> Result<RawString<'a>, Invalid> {
    match scanner.peek_kind()? {
        Kind::Null => scanner.null().map(|()| EMPTY),
        _ => scanner.string(),
    }
}

fn integer(text: &[u8]) -> Result<i64, Invalid> {
    std::str::from_utf8(text).ok().and_then(|text| text.parse().ok()).ok_or(Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: RawString<'_>) -> String {
        let mut out = Vec::new();
        crate::backend::json_scan::unescape_with(raw, |bytes| out.extend_from_slice(bytes)).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn describe(body: &str) -> String {
        match parse(body.as_bytes()) {
            Ok(InvokeAnswer::Value(value)) => format!("value {}", text(value)),
            Ok(InvokeAnswer::FunctionFailed { code, message }) => format!("failed {code} {}", text(message)),
            Ok(InvokeAnswer::Refused { code, message }) => format!("refused {} {}", text(code), text(message)),
            Err(Invalid) => "invalid".to_owned(),
        }
    }

    #[test]
    fn invoke_answers() {
        #[rustfmt::skip]
        let cases: &[(&str, &str)] = &[
            // The documented success shape; RetMsg is the function's return value as JSON text.
            (r#"{"Response":{"Result":{"MemUsage":3207168,"Log":"","RetMsg":"{\"ok\":true}","BillDuration":1,"FunctionRequestId":"6add56fa","Duration":1,"ErrMsg":"","InvokeResult":0},"RequestId":"c2af8a64"}}"#, r#"value {"ok":true}"#),
            (r#"{"Response":{"Result":{"RetMsg":"\"hello \u4e16\u754c\"","InvokeResult":0}}}"#, r#"value "hello 世界""#),
            // A function error: ErrMsg, or RetMsg when ErrMsg is empty or null.
            (r#"{"Response":{"Result":{"RetMsg":"{\"errorMessage\":\"boom\"}","ErrMsg":"user code exception caught","InvokeResult":430}}}"#, "failed 430 user code exception caught"),
            (r#"{"Response":{"Result":{"RetMsg":"{\"errorMessage\":\"boom\"}","ErrMsg":null,"InvokeResult":430}}}"#, r#"failed 430 {"errorMessage":"boom"}"#),
            (r#"{"Response":{"Result":{"RetMsg":"","ErrMsg":"Invoking task timed out after 3 seconds","InvokeResult":433}}}"#, "failed 433 Invoking task timed out after 3 seconds"),
            // The API refused.
            (r#"{"Response":{"Error":{"Code":"ResourceNotFound.Function","Message":"未找到指定的Function"},"RequestId":"x"}}"#, "refused ResourceNotFound.Function 未找到指定的Function"),
            (r#"{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated."}}}"#, "refused AuthFailure.SignatureFailure The provided credentials could not be validated."),
            // Not an Invoke answer.
            (r#"{"Response":{"RequestId":"x"}}"#, "invalid"),
            (r#"{"Response":{"Result":{"RetMsg":"x"}}}"#, "invalid"),
            (r#"{"Result":{"RetMsg":"x","InvokeResult":0}}"#, "invalid"),
            (r#"{"Response":{"Result":{"RetMsg":"x","InvokeResult":0}}} trailing"#, "invalid"),
            ("<html>502 Bad Gateway</html>", "invalid"),
            ("", "invalid"),
        ];
        for (body, expected) in cases {
            assert_eq!(describe(body), *expected, "{body}");
        }
    }
}
