//! JSON-RPC 2.0 on the wire: one call or a batch in a request body, and the
//! replies matched back to their calls by id.

use serde::Deserialize;
use serde_json::value::RawValue;

/// One call's JSON-RPC error.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorObject {
    pub code: i64,
    pub message: String,
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

/// The body of calls `(method, params)` numbered from 0: a single object
/// for one call, an array for several.
pub(crate) fn body(calls: &[(&str, &RawValue)]) -> Vec<u8> {
    let one = |(id, (method, params)): (usize, &(&str, &RawValue))| {
        // Method names are checked to be [A-Za-z0-9_]: no escaping needed.
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{}}}"#, params.get())
    };
    match calls {
        [single] => one((0, single)).into_bytes(),
        many => format!("[{}]", many.iter().enumerate().map(one).collect::<Vec<_>>().join(",")).into_bytes(),
    }
}

/// [`replies`], taking the body: one call's result is cut out of the body
/// in place rather than copied (an `eth_getLogs` reply runs to megabytes).
pub(crate) fn replies_of(body: Vec<u8>, calls: usize) -> Result<Vec<Result<String, ErrorObject>>, String> {
    if calls == 1 {
        let range = {
            let single: Result<Reply, _> = serde_json::from_slice(&body);
            match single {
                Ok(Reply { id: Some(0), result: Some(raw), error: None }) => {
                    let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
                    Some(start..start + raw.get().len())
                }
                _ => None,
            }
        };
        if let Some(range) = range {
            let mut text = String::from_utf8(body).map_err(|_| "the reply is not UTF-8".to_owned())?;
            text.truncate(range.end);
            text.drain(..range.start);
            return Ok(vec![Ok(text)]);
        }
    }
    replies(&body, calls)
}

/// Each call's result (its JSON text) or error, in call order; `Err` when
/// the body is not JSON-RPC replies to these calls.
pub(crate) fn replies(body: &[u8], calls: usize) -> Result<Vec<Result<String, ErrorObject>>, String> {
    let parsed: Vec<Reply> = if calls == 1 && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        vec![serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON-RPC: {e}"))?]
    } else {
        serde_json::from_slice(body).map_err(|e| format!("the reply is not a JSON-RPC batch: {e}"))?
    };
    let mut out: Vec<Option<Result<String, ErrorObject>>> = (0..calls).map(|_| None).collect();
    for reply in parsed {
        let id = reply.id.ok_or("a reply has no id")? as usize;
        let slot = out.get_mut(id).ok_or_else(|| format!("a reply has id {id}, which no call has"))?;
        *slot = Some(match reply.error {
            Some(error) => Err(error),
            // `"result": null` (say, a block the node does not have) is a result.
            None => Ok(reply.result.map_or_else(|| "null".to_owned(), |r| r.get().to_owned())),
        });
    }
    out.into_iter().enumerate().map(|(id, r)| r.ok_or_else(|| format!("no reply to call {id}"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn one_call_is_an_object_and_several_an_array() {
        let p = raw(r#"["0x1",false]"#);
        assert_eq!(String::from_utf8(body(&[("eth_getBlockByNumber", &p)])).unwrap(), r#"{"jsonrpc":"2.0","id":0,"method":"eth_getBlockByNumber","params":["0x1",false]}"#);
        let text = String::from_utf8(body(&[("a", &p), ("b", &p)])).unwrap();
        assert!(text.starts_with(r#"[{"jsonrpc":"2.0","id":0,"method":"a""#) && text.contains(r#""id":1,"method":"b""#));
    }

    #[test]
    fn replies_are_matched_by_id_and_gaps_are_errors() {
        let got = replies(br#"[{"id":1,"result":{"n":2}},{"id":0,"result":null},{"id":2,"error":{"code":-32000,"message":"no"}}]"#, 3).unwrap();
        assert_eq!(got[0].as_ref().unwrap(), "null");
        assert_eq!(got[1].as_ref().unwrap(), r#"{"n":2}"#);
        assert_eq!(got[2].as_ref().unwrap_err().code, -32000);
        assert!(replies(br#"[{"id":0,"result":1}]"#, 2).unwrap_err().contains("no reply to call 1"));
        assert!(replies(br#"[{"id":9,"result":1}]"#, 1).is_err());
        assert!(replies(b"<html>", 1).is_err());
        assert_eq!(replies(br#" {"jsonrpc":"2.0","id":0,"result":"0x10"}"#, 1).unwrap()[0].as_ref().unwrap(), r#""0x10""#);
        let cut = replies_of(br#" {"jsonrpc":"2.0","id":0,"result":[{"a":1}, 2]} "#.to_vec(), 1).unwrap();
        assert_eq!(cut[0].as_ref().unwrap(), r#"[{"a":1}, 2]"#);
        assert_eq!(replies_of(br#"{"id":0,"error":{"code":1,"message":"m"}}"#.to_vec(), 1).unwrap()[0].as_ref().unwrap_err().message, "m");
        assert_eq!(replies_of(br#"{"id":0,"result":null}"#.to_vec(), 1).unwrap()[0].as_ref().unwrap(), "null");
    }
}
