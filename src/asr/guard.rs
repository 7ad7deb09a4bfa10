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
/// how a fitted encoder context typically loops on a short clip. Real speech can do this, so it only
/// triggers a retry with a wider context, never a rejection.
pub fn is_doubled(text: &str) -> bool {
    doubled_unit(&loop_words(normalized_words(text))).is_some()
}

/// The length of the phrase (2+ words) that the whole text repeats, if it is one.
fn doubled_unit(words: &[String]) -> Option<usize> {
    // Single words said twice ("five five", "no no") are ordinary speech.
    (2..=words.len() / 2)
        .filter(|n| words.len().is_multiple_of(*n))
        .find(|&n| words.chunks(n).all(|c| c == &words[..n]))
}

fn normalized_words(text: &str) -> Vec<String> {
    normalize(text).split_whitespace().map(str::to_string).collect()
}

/// `words` as loops are looked for in them: each number is unlike any other, since numbers read out
/// repeat for real ("4,111,111,111" is the words 4 111 111 111).
fn loop_words(mut words: Vec<String>) -> Vec<String> {
    for (i, w) in words.iter_mut().enumerate() {
        if w.chars().all(|c| c.is_ascii_digit()) {
            *w = format!("#{i}");
        }
    }
    words
}

/// Where the earliest loop in `items` begins repeating: the index of the second occurrence of a unit of
/// `sizes` items that repeats back to back `times(unit size)` times.
fn loop_cut<T: PartialEq>(
    items: &[T],
    sizes: std::ops::RangeInclusive<usize>,
    times: impl Fn(usize) -> usize,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for n in sizes {
        let k = times(n);
        if items.len() < n * k {
            break;
        }
        for start in 0..=items.len() - n * k {
            if best.is_some_and(|b| start + n >= b) {
                break;
            }
            let unit = &items[start..start + n];
            if (1..k).all(|j| &items[start + j * n..start + (j + 1) * n] == unit) {
                best = Some(start + n);
                break;
            }
        }
    }
    best
}

/// Words repeat 4+ times for single words, 3+ for phrases of up to 8.
fn word_loop(words: &[String]) -> Option<usize> {
    loop_cut(words, 1..=8, |n| if n == 1 { 4 } else { 3 })
}

/// Scripts without spaces (Japanese) loop inside one "word": a substring of 2–12 characters 4+ times.
fn char_loop(chars: &[char]) -> Option<usize> {
    loop_cut(chars, 2..=12, |_| 4)
}

fn spaceless_chars(text: &str) -> Vec<char> {
    text.chars().filter(|&c| in_char_loop(c)).collect()
}

/// The characters a loop inside a word is looked for in. Not digits and their separators: numbers read
/// out repeat them for real ("4111 1111 1111 1111", "1,000,000").
fn in_char_loop(c: char) -> bool {
    !c.is_whitespace() && !c.is_ascii_digit() && !c.is_ascii_punctuation()
}

/// True when some run of 1–8 words repeats back to back: 4+ times for single words, 3+ for phrases.
pub fn is_repetitive(text: &str) -> bool {
    word_loop(&loop_words(normalized_words(text))).is_some() || char_loop(&spaceless_chars(text)).is_some()
}

/// The text up to where it starts to loop (the first occurrence of the repeated phrase kept), or `None`
/// when it does not loop: what a decode that kept looping can still give.
pub fn cut_loop(text: &str) -> Option<String> {
    // Each normalized word remembers the whitespace-separated token it came from, so the cut keeps the
    // original spelling and punctuation.
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut words = Vec::new();
    let mut token_of = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        for w in normalized_words(t) {
            words.push(w);
            token_of.push(i);
        }
    }
    let words = loop_words(words);
    if let Some(cut) = word_loop(&words).or_else(|| doubled_unit(&words)) {
        return Some(tokens[..token_of[cut]].join(" "));
    }
    let cut = char_loop(&spaceless_chars(text))?;
    // Back to an index in `text`: the cut-th character of those looked at.
    let (at, _) = text.char_indices().filter(|&(_, c)| in_char_loop(c)).nth(cut)?;
    Some(text[..at].trim().to_string())
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
        // Numbers read out repeat their digits for real.
        assert!(!is_repetitive("My card number is 4111 1111 1111 1111."));
        assert!(!is_repetitive("It was 1,000,000 yen, not 100,000."));
        assert!(!is_repetitive(" My car number is 4,111,111,111,111,111,111,111"));
        assert!(is_doubled(" rear left. Rear left."));
        assert!(!is_doubled("five five"));
        assert_eq!(
            normalize(" And so, my fellow Americans!"),
            "and so my fellow americans"
        );
    }

    #[test]
    fn a_loop_is_cut_where_it_starts_repeating() {
        assert_eq!(
            cut_loop(" Seven of clubs. Seven of clubs. Seven of clubs. Seven of clubs. Seven").as_deref(),
            Some("Seven of clubs.")
        );
        assert_eq!(
            cut_loop("I want to pay my bill bill bill bill bill").as_deref(),
            Some("I want to pay my bill")
        );
        assert_eq!(cut_loop(" Rear left. Rear left.").as_deref(), Some("Rear left."));
        assert_eq!(
            cut_loop("お電話ありがとうございますはいはいはいはいはい").as_deref(),
            Some("お電話ありがとうございますはい")
        );
        assert_eq!(cut_loop("ask what you can do for your country"), None);
        assert_eq!(cut_loop("five five"), None);
    }
}
