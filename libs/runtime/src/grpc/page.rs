//! Page tokens of listings: an opaque, versioned cursor (the stream
//! sequence a page continues below), so clients never build one by hand and
//! a server can change the cursor without breaking old clients silently.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest page of a listing.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// A page token this server did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a token this server issued")]
pub struct InvalidToken;

/// A page size out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {MAX_PAGE_SIZE}")]
pub struct InvalidPageSize;

/// Encodes the cursor of the next page.
pub fn token(below: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{below}"))
}

/// Decodes a page token; empty is the first page (`None`).
pub fn parse(token: &str) -> Result<Option<u64>, InvalidToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| InvalidToken)?;
    let text = String::from_utf8(bytes).map_err(|_| InvalidToken)?;
    text.strip_prefix("v1:").and_then(|cursor| cursor.parse().ok()).map(Some).ok_or(InvalidToken)
}

/// The page size asked for: 0 means the default, above the maximum is refused.
pub fn size(asked: u32) -> Result<u32, InvalidPageSize> {
    match asked {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size > MAX_PAGE_SIZE => Err(InvalidPageSize),
        size => Ok(size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_forgeries_are_refused() {
        assert_eq!(parse(&token(1234)), Ok(Some(1234)));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("garbage!"), Err(InvalidToken));
        assert_eq!(parse(&URL_SAFE_NO_PAD.encode("v2:1")), Err(InvalidToken));
        assert_eq!(size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(size(MAX_PAGE_SIZE + 1), Err(InvalidPageSize));
    }
}
