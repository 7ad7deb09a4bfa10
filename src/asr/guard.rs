//! Guards against Whisper's known failures on text it produced: repetition loops, and the phrases it
//! hallucinates from silence, noise or music (learnt from subtitled videos).

/// Whole-utterance phrases that are hallucinations on a phone line, compared after `normalize`.
const BLOCKLIST: &[&str] = &[
    "thank you for watching",
    "thanks for watching",
    "thank you for watching and see you next time",
    "please subscribe",
    "subscribe to my channel",
    "subtitles by the amaraorg community",
    "you",
    "ご視聴ありがとうございました",
    "ご清聴ありがとうございました",
    "チャンネル登録よろしくお願いします",
    "おやすみなさい",
];

/// Non-speech tags Whisper writes for sounds; removed wherever they occur.
fn is_sound_tag(word: &str) -> bool {
    let w = word.trim_matches(|c: char| c == '.' || c == ',');
    let bracketed = (w.starts_with('[') && w.ends_with(']'))
        || (w.starts_with('(') && w.ends_with(')'))
        || (w.starts_with('*') && w.ends_with('*') && w.len() > 1);
    bracketed
        || w.chars()
            .all(|c| matches!(c, '♪' | '♫' | '♬' | '🎵' | '🎶' | '-'))
}

/// Lower-case words without punctuation: the form transcripts are compared in.
pub fn normalize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || c == '\'' {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                ' '
            }
        })
        .collect();
    cleaned
        .split_whitespace()
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes sound tags (`[BLANK_AUDIO]`, `(music)`, `♪`) and returns `None` when nothing real is left or
/// what is left is a known hallucination.
pub fn clean(text: &str) -> Option<String> {
    // Tags may contain spaces ("[ Silence ]", "(upbeat music)"): drop bracketed spans first.
    let mut kept = String::with_capacity(text.len());
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = (depth - 1).max(0),
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = kept.split_whitespace().filter(|w| !is_sound_tag(w)).collect();
    let text = words.join(" ");
    let norm = normalize(&text);
    if norm.is_empty() || BLOCKLIST.contains(&norm.as_str()) || is_repetitive(&text) {
        return None;
    }
    Some(text)
}

/// True when the whole text is one phrase of 2+ words said two or more times ("rear left. rear left."):
/// how a fitted
/// encoder context typically loops on a short clip. Real speech can do this, so it only triggers a
/// retry with the full context, never a rejection.
pub fn is_doubled(text: &str) -> bool {
    let norm = normalize(text);
    let words: Vec<&str> = norm.split_whitespace().collect();
    // Single words said twice ("five five", "no no") are ordinary speech.
    (2..=words.len() / 2)
        .filter(|n| words.len().is_multiple_of(*n))
        .any(|n| words.chunks(n).all(|c| c == &words[..n]))
}

/// True when some run of 1–8 words repeats back to back: 4+ times for single words, 3+ for phrases.
pub fn is_repetitive(text: &str) -> bool {
    let words: Vec<String> = normalize(text).split_whitespace().map(str::to_string).collect();
    for n in 1..=8usize {
        let needed = if n == 1 { 4 } else { 3 };
        if words.len() < n * needed {
            break;
        }
        for start in 0..=words.len() - n * needed {
            let gram = &words[start..start + n];
            if (1..needed).all(|k| &words[start + k * n..start + (k + 1) * n] == gram) {
                return true;
            }
        }
    }
    // Scripts without spaces (Japanese) loop inside one "word": look for a repeated substring instead.
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    for n in 2..=12usize {
        if chars.len() < n * 4 {
            break;
        }
        for start in 0..=chars.len() - n * 4 {
            let gram = &chars[start..start + n];
            if (1..4).all(|k| &chars[start + k * n..start + (k + 1) * n] == gram) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_hallucinations_and_tags_give_nothing() {
        for t in [
            " Thank you for watching!",
            "[BLANK_AUDIO]",
            " (music)",
            "♪ ♪",
            "[ Silence ]",
            "ご視聴ありがとうございました",
            " (upbeat music)",
        ] {
            assert_eq!(clean(t), None, "{t:?}");
        }
    }

    #[test]
    fn real_speech_survives_with_tags_removed() {
        assert_eq!(clean(" Thank you.").as_deref(), Some("Thank you."));
        assert_eq!(
            clean(" [MUSIC] I'd like to check my balance.").as_deref(),
            Some("I'd like to check my balance.")
        );
        assert_eq!(
            clean("お電話ありがとうございます。").as_deref(),
            Some("お電話ありがとうございます。")
        );
    }

    #[test]
    fn loops_are_detected_and_ordinary_repetition_is_not() {
        assert!(is_repetitive(
            "ask not what your country, ask not what your country, ask not what your country"
        ));
        assert!(is_repetitive("no no no no"));
        assert!(is_repetitive("はいはいはいはいはいはい"));
        assert!(!is_repetitive(
            "ask what you can do for your country and ask what your country can do"
        ));
        assert!(!is_repetitive("no, no, no, I said the other account"));
        assert_eq!(
            normalize(" And so, my fellow Americans!"),
            "and so my fellow americans"
        );
    }
}
