//! Whisper's vocabulary as CTranslate2 ships it (`vocabulary.txt`, one token a line, or `vocabulary.json`,
//! a list) turned into the raw byte strings whisper.cpp wants.
//!
//! The shipped tokens are GPT-2 "byte-level" strings: every byte is shown as a printable character
//! (`Ġ` is a space). whisper.cpp adds the special tokens itself, so only the ordinary tokens, those before
//! `<|endoftext|>`, go into the file.

use super::convert::ConvertError;
use std::collections::HashMap;

const END_OF_TEXT: &str = "<|endoftext|>";

/// GPT-2's `bytes_to_unicode` inverted: printable character → the byte it stands for.
fn byte_decoder() -> HashMap<char, u8> {
    let printable =
        |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut map = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let c = if printable(b) {
            u32::from(b)
        } else {
            shifted += 1;
            255 + shifted
        };
        map.insert(char::from_u32(c).unwrap_or_default(), b);
    }
    map
}

/// Parses either vocabulary file into the ordinary tokens' bytes.
pub fn load(text: &str, json: bool) -> Result<Vec<Vec<u8>>, ConvertError> {
    let tokens: Vec<String> = if json {
        serde_json::from_str(text).map_err(|e| ConvertError::Malformed(format!("vocabulary.json: {e}")))?
    } else {
        text.lines().map(str::to_string).collect()
    };
    let end = tokens
        .iter()
        .position(|t| t == END_OF_TEXT)
        .ok_or_else(|| ConvertError::Malformed(format!("vocabulary has no {END_OF_TEXT}")))?;
    let decoder = byte_decoder();
    tokens[..end]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.chars()
                .map(|c| decoder.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| {
                    ConvertError::Malformed(format!("vocabulary token {i} ({t:?}) is not byte-level"))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_tokens_decode_to_bytes() {
        let txt = "!\nĠthe\nĊ\nÃ©\n<|endoftext|>\n<|startoftranscript|>\n";
        let v = load(txt, false).unwrap();
        assert_eq!(
            v,
            vec![
                b"!".to_vec(),
                b" the".to_vec(),
                b"\n".to_vec(),
                "é".as_bytes().to_vec()
            ]
        );
        let json = r#"["a", "Ġb", "<|endoftext|>"]"#;
        assert_eq!(load(json, true).unwrap(), vec![b"a".to_vec(), b" b".to_vec()]);
    }

    #[test]
    fn every_byte_has_one_character() {
        let d = byte_decoder();
        assert_eq!(d.len(), 256);
        let mut bytes: Vec<u8> = d.values().copied().collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 256);
    }

    #[test]
    fn refuses_a_vocabulary_without_end_of_text() {
        assert!(
            load("a\nb\n", false)
                .unwrap_err()
                .to_string()
                .contains("endoftext")
        );
    }
}
