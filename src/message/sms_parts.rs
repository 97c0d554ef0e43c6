//! How long an SMS is on the air: which alphabet it goes out in, how many units it takes and how many parts a
//! handset receives (each part is billed as one message).
//!
//! A message goes out in the GSM 03.38 default alphabet (GSM-7) when every character is in its basic table or
//! its extension table; anything else (an emoji, `ç`, `ó`, `ã`, curly quotes) switches the whole message to
//! UCS-2. One part carries 140 bytes: 160 GSM-7 septets or 70 UCS-2 code units. A longer message is split into
//! parts that each lose 6 bytes to the concatenation header: 153 septets or 67 code units per part. A GSM-7
//! extension character (escape + character) and a UTF-16 surrogate pair are never split across two parts, so a
//! part may end one unit short.

/// The alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet, 7 bits per character (extension characters take two).
    Gsm7,
    /// UTF-16 (UCS-2 on the air), 16 bits per code unit.
    Ucs2,
}

impl Encoding {
    /// The name used in logs and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }

    /// Units that fit in a message sent as one part.
    pub fn single_part_units(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// Units that fit in each part of a concatenated message.
    pub fn multi_part_units(self) -> usize {
        match self {
            Encoding::Gsm7 => 153,
            Encoding::Ucs2 => 67,
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The size of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsInfo {
    pub encoding: Encoding,
    /// GSM-7 septets (extension characters count 2) or UTF-16 code units (characters outside the Basic
    /// Multilingual Plane, such as most emoji, count 2).
    pub units: usize,
    /// How many SMS parts the message is sent as; an empty message still costs one.
    pub parts: usize,
    /// The first character that forced UCS-2, to tell an operator what to change.
    pub first_non_gsm: Option<char>,
}

/// GSM 03.38 basic table, in code point order 0x00..=0x7F. 0x1B is the escape to the extension table and
/// stands for no character, so it appears here as a placeholder that `septets` never matches (U+001B is not
/// in the alphabet). Mapping as in the Unicode consortium's GSM0338 table (0x09 is `Ç`, U+00C7).
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table (reached through the escape 0x1B): form feed, `^ { } \ [ ~ ] |` and `€`.
const EXTENSION: [char; 10] = ['\u{0C}', '^', '{', '}', '\\', '[', '~', ']', '|', '€'];

/// Septets `c` takes in GSM-7: 1 in the basic table, 2 in the extension table, `None` if GSM-7 cannot carry it.
pub fn septets(c: char) -> Option<usize> {
    if c == '\u{1B}' {
        None
    } else if BASIC.contains(&c) {
        Some(1)
    } else if EXTENSION.contains(&c) {
        Some(2)
    } else {
        None
    }
}

/// Whether the whole text can go out in GSM-7.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| septets(c).is_some())
}

/// Measures `text` as an SMS: its encoding, units and number of parts.
pub fn analyse(text: &str) -> SmsInfo {
    let first_non_gsm = text.chars().find(|c| septets(*c).is_none());
    let encoding = if first_non_gsm.is_some() { Encoding::Ucs2 } else { Encoding::Gsm7 };
    let weight = |c: char| match encoding {
        Encoding::Gsm7 => septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    };
    let units = text.chars().map(weight).sum();
    let parts = if units <= encoding.single_part_units() {
        1
    } else {
        // Greedy fill, because an escape sequence or a surrogate pair that would straddle two parts moves whole
        // into the next one.
        let per_part = encoding.multi_part_units();
        let (mut parts, mut used) = (1, 0);
        for w in text.chars().map(weight) {
            if used + w > per_part {
                parts += 1;
                used = 0;
            }
            used += w;
        }
        parts
    };
    SmsInfo { encoding, units, parts, first_non_gsm }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_the_gsm_03_38_ones() {
        // 127 characters in the basic table (128 code points less the escape) and 10 in the extension table.
        let basic: std::collections::HashSet<char> = BASIC.iter().copied().filter(|c| *c != '\u{1B}').collect();
        assert_eq!(basic.len(), 127);
        assert!(EXTENSION.iter().all(|c| !basic.contains(c)));
        for c in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r".chars() {
            assert_eq!(septets(c), Some(1), "{c:?}");
        }
        for c in "{}[]~\\^|€\u{0C}".chars() {
            assert_eq!(septets(c), Some(2), "{c:?}");
        }
        // Look-alikes that are not in the alphabet: small c cedilla, acute accents GSM lacks, curly quotes,
        // the backtick, the escape itself and the tab.
        for c in "çóáíúãõêâôÓ’‘“”`\u{1B}\t".chars() {
            assert_eq!(septets(c), None, "{c:?}");
        }
    }

    #[test]
    fn gsm7_single_part_ends_at_160() {
        let info = analyse(&"a".repeat(160));
        assert_eq!((info.encoding, info.units, info.parts), (Encoding::Gsm7, 160, 1));
        let info = analyse(&"a".repeat(161));
        assert_eq!((info.encoding, info.units, info.parts), (Encoding::Gsm7, 161, 2));
        assert_eq!(analyse("").parts, 1);
    }

    #[test]
    fn extension_characters_count_twice() {
        // 159 + one two-septet character = 161 septets: two parts, though only 160 characters.
        let text = format!("{}€", "a".repeat(159));
        assert_eq!(text.chars().count(), 160);
        let info = analyse(&text);
        assert_eq!((info.encoding, info.units, info.parts), (Encoding::Gsm7, 161, 2));
        let info = analyse(&format!("{}{{", "a".repeat(158)));
        assert_eq!((info.units, info.parts), (160, 1));
    }

    #[test]
    fn gsm7_multi_part_boundaries() {
        assert_eq!(analyse(&"a".repeat(306)).parts, 2);
        assert_eq!(analyse(&"a".repeat(307)).parts, 3);
        assert_eq!(analyse(&"a".repeat(459)).parts, 3);
        assert_eq!(analyse(&"a".repeat(460)).parts, 4);
        // An escape sequence is not split: 152 septets, then `[` (2) would end at 154 > 153, so it opens part
        // two, which then has room for 151 more; the last character needs a third part although the total,
        // 306 septets, would fit two parts if split anywhere.
        let text = format!("{}[{}", "a".repeat(152), "a".repeat(152));
        let info = analyse(&text);
        assert_eq!((info.units, info.parts), (306, 3));
    }

    #[test]
    fn one_emoji_switches_to_ucs2() {
        let info = analyse("Your code is 123456 🙂");
        assert_eq!(info.encoding, Encoding::Ucs2);
        // 20 BMP characters + one astral character (a surrogate pair).
        assert_eq!(info.units, 20 + 2);
        assert_eq!(info.first_non_gsm, Some('🙂'));
        // 159 GSM characters and one emoji: no longer fits one part, and in UCS-2.
        let info = analyse(&format!("{}🙂", "a".repeat(159)));
        assert_eq!((info.encoding, info.units, info.parts), (Encoding::Ucs2, 161, 3));
    }

    #[test]
    fn ucs2_boundaries() {
        let info = analyse(&"ó".repeat(70));
        assert_eq!((info.encoding, info.units, info.parts), (Encoding::Ucs2, 70, 1));
        assert_eq!(analyse(&"ó".repeat(71)).parts, 2);
        assert_eq!(analyse(&"ó".repeat(134)).parts, 2);
        assert_eq!(analyse(&"ó".repeat(135)).parts, 3);
        // Extension characters are plain characters in UCS-2.
        assert_eq!(analyse(&format!("ó{}", "{".repeat(69))).units, 70);
        // A surrogate pair is not split: 66 units, then an emoji (2) would end at 68 > 67.
        let text = format!("{}🙂{}", "ó".repeat(66), "ó".repeat(66));
        let info = analyse(&text);
        assert_eq!((info.units, info.parts), (134, 3));
    }

    #[test]
    fn accents_decide_the_alphabet() {
        // German, Italian and most French accents are in GSM-7; Spanish and Portuguese acute accents and the
        // small c cedilla are not.
        for gsm in ["Bestätigungscode: ß", "è già", "été où", "contraseña"] {
            assert_eq!(analyse(gsm).encoding, Encoding::Gsm7, "{gsm}");
        }
        assert_eq!(analyse("código").encoding, Encoding::Ucs2);
        assert_eq!(analyse("reçu").first_non_gsm, Some('ç'));
    }
}
