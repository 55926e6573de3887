//! LaTeX and unicode noise removal on an extracted answer, before parsing.
//!
//! `\left`/`\right`, spacing commands, `\displaystyle`, math delimiters, `\dfrac`, unicode operators and
//! zero-width characters are reduced to one plain spelling; `\text{..}`-like wrappers are unwrapped (their
//! words survive as words, so units and text answers can be recognised later).

/// Normalize an answer string. Idempotent.
///
/// ```
/// use stagekit_core::normalize::normalize;
/// assert_eq!(normalize("\\left( -\\infty, 1 \\right)"), "(-\\infty, 1)");
/// assert_eq!(normalize("$\\dfrac{3}{4}$"), "\\frac{3}{4}");
/// assert_eq!(normalize("3{,}607{,}421"), "3607421");
/// ```
///
/// Work is linear in the input, whatever the nesting; an answer longer than
/// [`MAX_ANSWER_BYTES`](crate::extract::MAX_ANSWER_BYTES) is cut there first, as extraction cuts it. Past
/// the depth limit of [`crate::guard`], the deeper `\text{..}`-like wrappers are left as written (see
/// [`normalize_checked`]).
pub fn normalize(ans: &str) -> String {
    crate::guard::entry(|| normalize_text(ans))
}

/// [`normalize`], or `Err(TooDeep)` when the answer nests deeper than the guard's limit (its verdict is
/// then `unparseable`).
pub fn normalize_checked(ans: &str) -> Result<String, crate::guard::TooDeep> {
    crate::guard::entry(|| match crate::guard::watch(|| normalize_text(ans)) {
        (s, false) => Ok(s),
        (_, true) => Err(crate::guard::TooDeep),
    })
}

/// [`normalize`] without the entry point's stack check.
pub(crate) fn normalize_text(ans: &str) -> String {
    let ans = &ans[..crate::extract::floor_char_boundary(ans, crate::extract::MAX_ANSWER_BYTES)];
    let mapped = map_unicode(ans);
    let unwrapped = strip_delims(&mapped);
    let cmds = rewrite_commands(unwrapped);
    let stripped = strip_delims(&cmds).to_string();
    collapse_ws(&stripped)
}

fn map_unicode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{2212}' | '\u{2013}' | '\u{2012}' | '\u{FE63}' | '\u{FF0D}' => out.push('-'),
            '\u{00D7}' | '\u{22C5}' | '\u{00B7}' | '\u{2219}' => out.push_str(" \\cdot "),
            '\u{00F7}' => out.push('/'),
            '\u{00B0}' | '\u{02DA}' => out.push_str("^\\circ "),
            '\u{03C0}' => out.push_str("\\pi "),
            '\u{221A}' => out.push_str("\\sqrt"),
            '\u{221E}' => out.push_str("\\infty "),
            '\u{2264}' | '\u{2A7D}' => out.push_str("\\le "),
            '\u{2265}' | '\u{2A7E}' => out.push_str("\\ge "),
            '\u{2260}' => out.push_str("\\ne "),
            '\u{222A}' => out.push_str("\\cup "),
            '\u{2229}' => out.push_str("\\cap "),
            '\u{00B1}' => out.push_str("\\pm "),
            '\u{2208}' => out.push_str("\\in "),
            '\u{2205}' => out.push_str("\\emptyset "),
            '\u{2248}' => out.push_str("\\approx "),
            '\u{2261}' => out.push_str("\\equiv "),
            '\u{230A}' => out.push_str("\\lfloor "),
            '\u{230B}' => out.push_str("\\rfloor "),
            '\u{2308}' => out.push_str("\\lceil "),
            '\u{2309}' => out.push_str("\\rceil "),
            '\u{00B2}' => out.push_str("^2"),
            '\u{00B3}' => out.push_str("^3"),
            '\u{00BD}' => out.push_str("\\frac{1}{2}"),
            '\u{00BC}' => out.push_str("\\frac{1}{4}"),
            '\u{00BE}' => out.push_str("\\frac{3}{4}"),
            '\u{2192}' => out.push_str("\\to "),
            '\u{FF08}' => out.push('('),
            '\u{FF09}' => out.push(')'),
            '\u{FF0C}' => out.push(','),
            '\u{00A0}' | '\u{2009}' | '\u{202F}' | '\u{2002}' | '\u{2003}' | '\u{3000}' => out.push(' '),
            '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => {}
            '\u{FFFD}' => {}
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Remove math delimiters around the whole answer (`$..$`, `\(..\)`, `\[..\]`, `\boxed{..}`).
/// Linear however many wrappers nest: braces are matched once, on the first `\boxed{`.
fn strip_delims(s: &str) -> &str {
    let whole = s;
    let mut braces: Option<BraceIndex> = None;
    let mut s = s.trim();
    loop {
        let before = s;
        for (o, c) in [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")] {
            if let Some(inner) = s.strip_prefix(o).and_then(|x| x.strip_suffix(c)) {
                if !inner.ends_with('\\') {
                    s = inner.trim();
                }
            }
        }
        for w in ["\\boxed{", "\\fbox{"] {
            if let Some(inner) = s.strip_prefix(w) {
                if !inner.is_empty() {
                    let at = inner.as_ptr() as usize - whole.as_ptr() as usize;
                    let ix = braces.get_or_insert_with(|| BraceIndex::new(whole));
                    if ix.close(at - 1) == Some(at + inner.len() - 1) {
                        s = inner[..inner.len() - 1].trim();
                    }
                }
            }
        }
        if s.ends_with('.') && !s.ends_with("..") && !s.ends_with("\\.") {
            s = s[..s.len() - 1].trim_end();
        }
        if s == before {
            return s;
        }
    }
}

/// Given `s` where position `open_at` is just after a `{`, the byte index of its matching `}`.
pub(crate) fn matching_brace(s: &str, open_at: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 1usize;
    let mut i = open_at;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The matching `}` of every `{`, computed in one pass (escaped `\{` `\}` are not structural): for any
/// `{`, the same brace [`matching_brace`] finds, in constant time.
pub(crate) struct BraceIndex {
    close_of: Vec<u32>,
}

const NO_MATCH: u32 = u32::MAX;

impl BraceIndex {
    pub(crate) fn new(s: &str) -> Self {
        let b = s.as_bytes();
        let mut close_of = vec![NO_MATCH; b.len()];
        let mut stack: Vec<u32> = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    i += 2;
                    continue;
                }
                b'{' => stack.push(i as u32),
                b'}' => {
                    if let Some(o) = stack.pop() {
                        close_of[o as usize] = i as u32;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        BraceIndex { close_of }
    }

    /// The byte index of the `}` matching the `{` at byte `open`.
    pub(crate) fn close(&self, open: usize) -> Option<usize> {
        match self.close_of.get(open) {
            Some(&c) if c != NO_MATCH => Some(c as usize),
            _ => None,
        }
    }
}

/// Commands whose braced argument is kept as plain words.
const TEXT_WRAPPERS: &[&str] = &[
    "text", "textbf", "textit", "textrm", "textsf", "texttt", "textnormal", "mathrm", "mathbf", "mathit",
    "mathsf", "mathtt", "mathnormal", "mbox", "hbox", "emph", "boldsymbol", "bm", "mathbb", "mathcal",
    "operatorname", "textup", "rm", "bf",
];

/// Commands removed outright (spacing, sizing, style).
const DROPPED: &[&str] = &[
    "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl",
    "Biggr", "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "quad", "qquad", "enspace",
    "thinspace", "negthinspace", "medspace", "thickspace", "hfill", "noindent", "phantom", "mathstrut",
    "strut", "middle", "nonumber", "notag", "hline", "degree", "circ",
];

/// The rewritten text, built in one buffer shared by the nested `\text{..}`-like wrappers (no copy per
/// level), with what the wrappers' rules ask about it kept up to date as it grows, so every question is
/// answered in constant time and the rewrite stays linear in the input however deep the wrappers nest.
///
/// A wrapper's rewritten argument is a *frame*: the text from `floor` on. Inside it, the rules see only
/// the frame (as if it were the whole output), and whitespace at its start is never written (the
/// argument is trimmed, and nothing before the first other character depends on it).
struct Out {
    s: String,
    /// Start of the current frame.
    floor: usize,
    /// End of the frame's text without trailing whitespace.
    end_non_ws: usize,
    /// Characters of the frame that a unit text may not hold (see [`is_unit_char`]).
    bad: usize,
    /// Characters of the frame other than `.`.
    non_dot: usize,
    /// End of the whole text (all frames) without trailing whitespace.
    all_end_non_ws: usize,
    /// Inside a wrapper's frame (the counts above are kept only there: nothing asks them of the top).
    framed: bool,
}

/// What [`Out`] saves of the enclosing frame when a wrapper's frame opens.
#[derive(Clone, Copy)]
struct FrameState {
    floor: usize,
    end_non_ws: usize,
    bad: usize,
    non_dot: usize,
    all_end_non_ws: usize,
    framed: bool,
}

impl Out {
    fn with_capacity(n: usize) -> Self {
        Out { s: String::with_capacity(n), floor: 0, end_non_ws: 0, bad: 0, non_dot: 0, all_end_non_ws: 0, framed: false }
    }

    /// The current frame's text.
    fn view(&self) -> &str {
        &self.s[self.floor..]
    }

    /// The current frame's text without trailing whitespace.
    fn trimmed(&self) -> &str {
        &self.s[self.floor..self.end_non_ws.max(self.floor)]
    }

    /// The whole text (through every frame) without trailing whitespace: what a second pass would see
    /// before the current position.
    fn all_trimmed(&self) -> &str {
        &self.s[..self.all_end_non_ws]
    }

    fn ends_with(&self, c: char) -> bool {
        self.view().ends_with(c)
    }

    fn push(&mut self, c: char) {
        if c.is_whitespace() {
            if self.s.len() == self.floor {
                return;
            }
        } else {
            self.end_non_ws = self.s.len() + c.len_utf8();
            self.all_end_non_ws = self.end_non_ws;
        }
        if self.framed {
            self.bad += !is_unit_char(c) as usize;
            self.non_dot += (c != '.') as usize;
        }
        self.s.push(c);
    }

    fn push_str(&mut self, t: &str) {
        for c in t.chars() {
            self.push(c);
        }
    }

    fn push_space(&mut self) {
        if !self.ends_with(' ') && !self.view().is_empty() {
            self.push(' ');
        }
    }

    fn state(&self) -> FrameState {
        FrameState {
            floor: self.floor,
            end_non_ws: self.end_non_ws,
            bad: self.bad,
            non_dot: self.non_dot,
            all_end_non_ws: self.all_end_non_ws,
            framed: self.framed,
        }
    }

    /// Open a frame at the end of the text; returns the enclosing frame's state.
    fn open(&mut self) -> FrameState {
        let saved = self.state();
        self.floor = self.s.len();
        self.end_non_ws = self.floor;
        self.bad = 0;
        self.non_dot = 0;
        self.framed = true;
        saved
    }

    /// Drop the frame's trailing whitespace (its leading whitespace was never written).
    fn trim_frame(&mut self) {
        let cut = self.end_non_ws.max(self.floor);
        for c in self.s[cut..].chars() {
            self.bad -= !is_unit_char(c) as usize;
            self.non_dot -= (c != '.') as usize;
        }
        self.s.truncate(cut);
    }

    /// Close the frame keeping its text in the enclosing one.
    fn close_keep(&mut self, outer: FrameState) {
        let (bad, non_dot, end) = (self.bad, self.non_dot, self.end_non_ws);
        let had_text = self.s.len() > self.floor;
        self.floor = outer.floor;
        self.framed = outer.framed;
        self.bad = outer.bad + bad;
        self.non_dot = outer.non_dot + non_dot;
        self.end_non_ws = if had_text { end } else { outer.end_non_ws };
    }

    /// Close the frame and remove everything written since `state` was taken.
    fn rewind(&mut self, len: usize, state: FrameState) {
        self.s.truncate(len);
        self.floor = state.floor;
        self.end_non_ws = state.end_non_ws;
        self.bad = state.bad;
        self.non_dot = state.non_dot;
        self.all_end_non_ws = state.all_end_non_ws;
        self.framed = state.framed;
    }
}

/// A character a unit text may hold (see [`is_unit_text`]).
fn is_unit_char(c: char) -> bool {
    matches!(c, 'a'..='z' | 'A'..='Z' | '0'..='9' | ' ' | '/' | '.' | '-' | '^' | '{' | '}') || (!c.is_ascii() && c.is_alphabetic())
}

/// [`is_unit_text`] of a frame's (trimmed) text, in constant time from the counts [`Out`] keeps: only a
/// text of at most nine characters other than `.` can be one of the excluded connectives.
///
/// A unit phrase is short (at most [`MAX_UNIT_TEXT`] characters; a longer text after a number is prose,
/// kept), so checking its words costs constant time too.
fn frame_is_unit_text(w: &str, bad: usize, non_dot: usize) -> bool {
    bad == 0 && non_dot <= MAX_UNIT_TEXT && w.len() <= 4 * MAX_UNIT_TEXT && is_unit_text(w)
}

/// The longest text a unit phrase may be (`square units`, `kcal m^{-2} yr^{-1}`, `meters per second`).
const MAX_UNIT_TEXT: usize = 40;

/// Words that are never part of a unit after a number, because they change its value or judge it:
/// `4 \text{ thousand}`, `4 \text{ squared}`, `4 \text{ plus one}`, `4 \text{ is wrong}`, `4 \text{ not}`.
/// Dropping them as units would let an answer say another value (or disown its own) and still match.
/// `squared` and `cubed` are allowed after a unit word (`5 \text{ cm squared}`), never first.
pub(crate) fn never_unit_word(lw: &str) -> bool {
    let lw = lw.trim_end_matches(['.', ',', ';', ':', '!', '?']);
    let stem = lw.strip_suffix("ths").or_else(|| lw.strip_suffix("th")).unwrap_or("");
    matches!(
        lw,
        "or" | "and" | "if" | "for" | "when" | "where" | "otherwise" | "is" | "isn't" | "isnt" | "was" | "are"
            | "be" | "i" | "e" | "p.m" | "a.m" | "pm" | "am" | "not" | "no" | "non" | "never" | "nope" | "wrong"
            | "incorrect" | "false" | "true" | "correct" | "right" | "but" | "except" | "maybe" | "perhaps"
            | "probably" | "possibly" | "unless" | "than" | "less" | "more" | "plus" | "minus" | "times"
            | "over" | "divided" | "by" | "squared" | "cubed" | "inverse" | "reciprocal" | "negative"
            | "positive" | "remainder" | "root" | "roots" | "power" | "powers" | "factorial" | "hundred"
            | "hundreds" | "thousand" | "thousands" | "million" | "millions" | "billion" | "billions"
            | "trillion" | "trillions" | "lakh" | "lakhs" | "crore" | "crores" | "dozen" | "dozens" | "score"
            | "gross" | "half" | "halves" | "third" | "thirds" | "quarter" | "quarters" | "twice" | "thrice"
            | "double" | "triple" | "out" | "mod" | "modulo" | "pi"
    ) || matches!(
        stem,
        "four" | "fif" | "six" | "seven" | "eigh" | "nin" | "ten" | "eleven" | "twelf" | "hundred" | "thousand"
            | "million" | "billion"
    )
}

/// A unit phrase's words: none that [`never_unit_word`] excludes, except `squared`/`cubed` after a unit.
pub(crate) fn unit_words_ok<'a>(words: impl Iterator<Item = &'a str>) -> bool {
    let mut first = true;
    for w in words {
        let lw = w.to_ascii_lowercase();
        let power = matches!(lw.trim_end_matches('.'), "squared" | "cubed");
        if never_unit_word(&lw) && !(power && !first) {
            return false;
        }
        first = false;
    }
    true
}

fn rewrite_commands(s: &str) -> String {
    let braces = LazyBraces { text: s, index: std::cell::OnceCell::new() };
    let mut out = Out::with_capacity(s.len() + 8);
    rewrite_frame(s, 0, &braces, &mut out);
    out.s
}

/// A [`BraceIndex`] of the whole text, built on the first question (most answers ask none).
struct LazyBraces<'a> {
    text: &'a str,
    index: std::cell::OnceCell<BraceIndex>,
}

/// Rewrite `s`, which starts at byte `base` of the text `braces` indexes, into `out`'s current frame.
fn rewrite_frame(s: &str, base: usize, braces: &LazyBraces, out: &mut Out) {
    // `matching_brace(s, open_at)` within this frame, in constant time.
    let close = |open_at: usize| -> Option<usize> {
        let c = braces.index.get_or_init(|| BraceIndex::new(braces.text)).close(base + open_at - 1)?;
        (c < base + s.len()).then(|| c - base)
    };
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            // Command name: letters, or one non-letter char.
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j == start {
                // `\,` `\!` `\;` `\:` `\ ` `\>` spacing; `\$` `\%` `\{` `\}` `\\` kept meaningfully.
                let Some(ch) = s[start..].chars().next() else {
                    i += 1;
                    continue;
                };
                match ch {
                    ',' | '!' | ';' | ':' | ' ' | '>' | '\n' => {
                        // Thin spaces between digit groups are thousands separators: drop them.
                        if ch == ',' && prev_is_digit(out.trimmed()) && next_is_digit(b, start + 1) {
                        } else if ch == '!' && after_digit_comma(out.trimmed()) && next_is_digit(b, start + 1) {
                            // `11,\! 111,\! 100`: the negative space closes up a thousands separator.
                            i = start + 1;
                            while i < b.len() && b[i] == b' ' {
                                i += 1;
                            }
                            continue;
                        } else if ch != '!' || (out.view().ends_with(|c: char| c.is_ascii_alphabetic()) && b.get(start + 1).is_some_and(|c| c.is_ascii_alphabetic())) {
                            // `\!` joins, except between a command and a letter (`2\pi\!r` is `2\pi r`).
                            out.push_space();
                        }
                    }
                    '$' => {}
                    '%' => out.push('%'),
                    _ => {
                        out.push('\\');
                        out.push(ch);
                    }
                }
                i = start + ch.len_utf8();
                continue;
            }
            let name = &s[start..j];
            i = j;
            if DROPPED.contains(&name) {
                if name == "left" || name == "right" || name.starts_with("big") || name.starts_with("Big") {
                    // `\left.` is an invisible delimiter.
                    if i < b.len() && b[i] == b'.' {
                        i += 1;
                    }
                } else if name == "phantom" {
                    if i < b.len() && b[i] == b'{' {
                        if let Some(e) = close(i + 1) {
                            i = e + 1;
                        }
                    }
                }
                continue;
            }
            if TEXT_WRAPPERS.contains(&name) {
                let mut k = i;
                while k < b.len() && b[k] == b' ' {
                    k += 1;
                }
                if k < b.len() && b[k] == b'{' {
                    if let Some(e) = close(k + 1) {
                        if name == "mathbb" && s[k + 1..e].trim() == "R" {
                            // `\mathbb{R}`, all real numbers, is the interval (`R` alone may be a radius).
                            out.push_str("(-\\infty,\\infty)");
                            i = e + 1;
                            continue;
                        }
                        let unit_may_follow = after_quantity(out.trimmed());
                        let (len, before) = (out.s.len(), out.state());
                        // `\operatorname{lcm}` names the command `\lcm`; an argument that does not start
                        // with a letter is plain text (`\operatorname{,}` must not become `\,`).
                        let as_command = name == "operatorname"
                            && s[k + 1..e].trim_start().starts_with(|c: char| c.is_ascii_alphabetic());
                        if as_command {
                            out.push('\\');
                        } else {
                            out.push_space();
                        }
                        let outer = out.open();
                        let inner = crate::guard::recurse(|| rewrite_frame(&s[k + 1..e], base + k + 1, braces, out));
                        if inner.is_err() {
                            // Past the depth limit the wrapper stays as written (the answer is then
                            // `unparseable`), and its argument is read on this level.
                            out.rewind(len, before);
                            out.push('\\');
                            out.push_str(name);
                            continue;
                        }
                        out.trim_frame();
                        let word = out.view();
                        if unit_may_follow && frame_is_unit_text(word, out.bad, out.non_dot) {
                            // `12\,\mathrm{cm}`, `5 \text{ m/s}`, `15000 \text{ kcal m}^{-2}`: a unit, dropped.
                            let percent = word.eq_ignore_ascii_case("percent");
                            out.rewind(len, before);
                            i = skip_exponent(s, e + 1, &close);
                            if percent {
                                out.push('%');
                            }
                            continue;
                        }
                        // The command as if written directly, so a second pass changes nothing:
                        // `\operatorname{tg}` is `\tan`, `\operatorname{left}` is dropped.
                        let respelled = match word {
                            w if !as_command || !w.bytes().all(|c| c.is_ascii_alphabetic()) => None,
                            w if DROPPED.contains(&w) || TEXT_WRAPPERS.contains(&w) => Some(""),
                            w => replacement(w),
                        };
                        if let Some(r) = respelled {
                            out.rewind(len, before);
                            push_replacement(out, r);
                            out.push(' ');
                            i = e + 1;
                            continue;
                        }
                        out.close_keep(outer);
                        out.push(' ');
                        i = e + 1;
                        continue;
                    }
                }
                continue;
            }
            let replacement = replacement(name).unwrap_or("");
            if !replacement.is_empty() {
                push_replacement(out, replacement);
            } else {
                out.push('\\');
                out.push_str(name);
                // Keep a separator so `\pi r` does not become `\pir`.
                if i < b.len() && b[i].is_ascii_alphabetic() {
                    out.push(' ');
                }
            }
            continue;
        }
        if c == b'{' && s[i..].starts_with("{,}") {
            // `3{,}607` thousands separator.
            i += 3;
            continue;
        }
        // Primes after a number (`30'`, also `80\text{'s}`) are units, dropped: the test looks through the
        // wrappers' frames, as a second pass over the output would.
        if c == b'\'' && out.all_trimmed().ends_with(|c: char| c.is_ascii_digit()) {
            while i < b.len() && b[i] == b'\'' {
                i += 1;
            }
            continue;
        }
        if c == b'$' {
            // Math delimiters left inside an answer (`x+$ $y`) carry no meaning; `\$` was handled above.
            i += 1;
            continue;
        }
        if c == b'~' {
            out.push_space();
            i += 1;
            continue;
        }
        if c == b'^' {
            // Degrees: `^\circ`, `^{\circ}`, `^{\circ C}` are dropped (handled by DROPPED for `\circ`).
            let rest = &s[i + 1..];
            let rest_t = skip_spacing(rest);
            if rest_t.starts_with("\\circ") {
                i = skip_temperature_scale(s, s.len() - rest_t.len() + 5);
                continue;
            }
            if let Some(inner) = rest_t.strip_prefix('{') {
                let inner_at = s.len() - inner.len();
                let inner_t = skip_spacing(inner);
                if inner_t.starts_with("\\circ") {
                    if let Some(e) = close(inner_at) {
                        i = skip_temperature_scale(s, e + 1);
                        continue;
                    }
                }
                if inner_t.starts_with("\\prime") {
                    if let Some(e) = close(inner_at) {
                        let primes = s[inner_at..e].matches("\\prime").count();
                        i = e + 1;
                        push_primes(out, primes);
                        continue;
                    }
                }
            }
            if rest_t.starts_with("\\prime") {
                i = s.len() - rest_t.len() + 6;
                push_primes(out, 1);
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
}

/// The spelling a command is rewritten to (`\\dfrac` is `\\frac`, `\\leq` is `\\le`, `\\cdot` is `*`).
fn replacement(name: &str) -> Option<&'static str> {
    Some(match name {
        "dfrac" | "tfrac" | "cfrac" => "\\frac",
        "dbinom" | "tbinom" => "\\binom",
        "leq" | "leqslant" | "leqq" => "\\le",
        "geq" | "geqslant" | "geqq" => "\\ge",
        "neq" => "\\ne",
        "lt" => "<",
        "gt" => ">",
        "lbrace" => "\\{",
        "rbrace" => "\\}",
        "lbrack" => "[",
        "rbrack" => "]",
        "lvert" | "rvert" | "vert" | "mid" => "|",
        "langle" => "(",
        "rangle" => ")",
        "times" | "cdot" | "ast" | "cdotp" | "bullet" => "*",
        "div" => "/",
        "colon" => ":",
        "land" | "wedge" => " and ",
        "lor" | "vee" => " or ",
        "varnothing" | "emptyset" => "\\emptyset",
        "simeq" | "thickapprox" | "approxeq" => "\\approx",
        "arcsinh" | "asinh" => "\\arsinh",
        "arccosh" | "acosh" => "\\arcosh",
        "arctanh" | "atanh" => "\\artanh",
        "mod" => "\\bmod",
        "to" | "rightarrow" | "longrightarrow" => "\\to",
        "Rightarrow" | "implies" | "Longrightarrow" => "\\implies",
        "dots" | "ldots" | "cdots" => "\\dots",
        "varepsilon" => "\\epsilon",
        "varphi" => "\\phi",
        "vartheta" => "\\theta",
        "tg" => "\\tan",
        "ctg" => "\\cot",
        "arctg" => "\\arctan",
        "ge" => "\\ge",
        "le" => "\\le",
        "ne" => "\\ne",
        _ => return None,
    })
}

fn push_replacement(out: &mut Out, r: &str) {
    out.push_str(r);
    if r.starts_with('\\') && r[1..].chars().all(|c| c.is_ascii_alphabetic()) {
        out.push(' ');
    }
}

/// The output so far ends with a quantity (a number, or a bracketed or braced expression), so a unit
/// may follow.
fn after_quantity(out: &str) -> bool {
    let t = out.trim_end();
    t.ends_with(|c: char| c.is_ascii_digit() || c == '}' || c == ')' || c == '%')
}

/// Unit-like text: words of letters with `/`, `.`, `-` and exponents (`m/s`, `kcal m`, `sq. ft`), not a
/// connective such as "or" or "and".
pub(crate) fn is_unit_text(w: &str) -> bool {
    let lw = w.to_ascii_lowercase();
    !w.is_empty()
        && w.chars().next().is_some_and(|c| c.is_alphabetic())
        && w.chars().all(|c| c.is_alphabetic() || " /.-^{}0123456789".contains(c))
        && unit_words_ok(lw.split([' ', '/']).filter(|x| !x.is_empty()))
}

/// Skip an exponent (`^2`, `^{-1}`) at `i`, returning the index after it.
fn skip_exponent(s: &str, i: usize, close: &dyn Fn(usize) -> Option<usize>) -> usize {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j < b.len() && b[j] == b'^' {
        j += 1;
        if j < b.len() && b[j] == b'{' {
            if let Some(e) = close(j + 1) {
                return e + 1;
            }
        } else {
            if j < b.len() && b[j] == b'-' {
                j += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            return j;
        }
    }
    i
}

/// After a degree sign, skip a temperature scale letter (`^\circ C`, `^\circ \mathrm{F}`).
fn skip_temperature_scale(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j < b.len() && matches!(b[j], b'C' | b'F' | b'K') && b.get(j + 1).is_none_or(|c| !c.is_ascii_alphanumeric()) {
        return j + 1;
    }
    for w in ["\\text{C}", "\\mathrm{C}", "\\text{F}", "\\mathrm{F}", "\\text{ C}", "\\mathrm{K}"] {
        if s[j..].starts_with(w) {
            return j + w.len();
        }
    }
    i
}

/// Primes after a number are units (minutes, seconds, feet, inches) and dropped; after a name they are
/// derivative marks, kept as `'`.
fn push_primes(out: &mut Out, n: usize) {
    if out.all_trimmed().ends_with(|c: char| c.is_ascii_digit()) {
        return;
    }
    for _ in 0..n {
        out.push('\'');
    }
}

/// `s` without leading whitespace and spacing commands (`\,` `\!` `\;` `\:` `\ `).
fn skip_spacing(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        match t.strip_prefix('\\').and_then(|r| r.strip_prefix([',', '!', ';', ':', ' '])) {
            Some(r) => s = r,
            None => return t,
        }
    }
}

fn after_digit_comma(out: &str) -> bool {
    out.strip_suffix(',').is_some_and(|h| h.ends_with(|c: char| c.is_ascii_digit()))
}

fn prev_is_digit(out: &str) -> bool {
    out.trim_end().ends_with(|c: char| c.is_ascii_digit())
}

fn next_is_digit(b: &[u8], mut i: usize) -> bool {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i < b.len() && b[i].is_ascii_digit()
}

fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                // Keep a space only where it separates two word-ish characters or a digit pair
                // (so `2 1/3` and `5 apples` stay distinguishable from `21/3` and `5apples`).
                let prev = out.chars().last().unwrap();
                if (prev.is_alphanumeric() || prev == '.' || prev == '}' || prev == ')' || prev == ']' || prev == '%')
                    && (c.is_alphanumeric() || c == '\\' || c == '(')
                {
                    out.push(' ');
                } else if prev == ',' || c == ',' {
                    // `1, 2` and `1,2` are one spelling; commas between digit groups decide thousands later.
                    out.push(' ');
                }
            }
            space = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise() {
        assert_eq!(normalize("\\left[ 2, 5 \\right)"), "[2, 5)");
        assert_eq!(normalize("\\displaystyle \\frac{1}{2}"), "\\frac{1}{2}");
        assert_eq!(normalize("\\(x^2\\)"), "x^2");
        assert_eq!(normalize("\\[ 7 \\]"), "7");
        assert_eq!(normalize("3\\,607\\,421"), "3607421");
        assert_eq!(normalize("\u{2212}5"), "-5");
        assert_eq!(normalize("30^\\circ"), "30");
        assert_eq!(normalize("30^{\\circ}"), "30");
        assert_eq!(normalize("30\u{00B0}"), "30");
        assert_eq!(normalize("\\$18.90"), "18.90");
        assert_eq!(normalize("12\\,\\mathrm{cm}"), "12");
        assert_eq!(normalize("\\text{(C)}"), "(C)");
        assert_eq!(normalize("50\\%"), "50%");
        assert_eq!(normalize("\\frac12\u{200b}\u{200b}"), "\\frac12");
        assert_eq!(normalize("x\\!+\\!1"), "x+1");
        assert_eq!(normalize("5."), "5");
        assert_eq!(normalize("2.5"), "2.5");
        assert_eq!(normalize("\\pi r^2"), "\\pi r^2");
        assert_eq!(normalize("\\left\\{1,2\\right\\}"), "\\{1,2\\}");
        assert_eq!(normalize("5 \\text{ m/s}"), "5");
        assert_eq!(normalize("\\frac{600}{7} \\text{ km/h}"), "\\frac{600}{7}");
        assert_eq!(normalize("15000 \\text{ kcal m}^{-2} \\text{yr}^{-1}"), "15000");
        assert_eq!(normalize("1950^\\circ C"), "1950");
        assert_eq!(normalize("20^\\circ \\text{C}"), "20");
        assert_eq!(normalize("0.003^{\\prime \\prime}"), "0.003");
        assert_eq!(normalize("30''"), "30");
        assert_eq!(normalize("x^{\\prime}+1"), "x'+1");
        assert_eq!(normalize("x+$ $y"), "x+y");
        assert_eq!(normalize("x = 3 \\text{ or } x = -2"), "x=3 or x=-2");
        assert_eq!(normalize("25 \\text{ percent}"), "25%");
        assert_eq!(normalize("30^\\,\\circ"), "30");
        assert_eq!(normalize("30^{\\,\\circ}"), "30");
        assert_eq!(normalize("2\\pi\\!r"), "2\\pi r");
    }

    #[test]
    fn idempotent_on_samples() {
        for s in [
            "\\frac{1}{2}",
            "(-\\infty, 1) \\cup (2, \\infty)",
            "x \\le 3",
            "1, 2, 3",
            "\\text{ east }",
            // A second pass used to change these: primes after a number inside a wrapper, a command
            // spelled through `\\operatorname`, an argument that is not a name, a trailing `\\.`.
            "the 80\\text{'s}",
            "\\operatorname{tg} x",
            "\\operatorname{lcm}(4, 6)",
            "\\operatorname{}",
            "1\\operatorname{,}2",
            "\\operatorname{\\%}",
            "x\\.",
            "\\text{\\text{ 5 }\\,\\text{cm}}",
        ] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s}");
        }
        assert_eq!(normalize("\\operatorname{tg} x"), "\\tan x");
        assert_eq!(normalize("\\operatorname{lcm}(4,6)"), "\\lcm (4,6)");
        assert_eq!(normalize("\\operatorname{2}"), "2");
        assert_eq!(normalize("1980\\text{'s}"), "1980");
    }

    #[test]
    fn deep_wrappers_are_linear_and_capped() {
        // 1,000 levels (within the depth limit) unwrap; past the limit the wrappers stay as written.
        let w = |n: usize| format!("{}5{}", "\\text{".repeat(n), "}".repeat(n));
        assert_eq!(normalize(&w(1000)), "5");
        assert_eq!(normalize_checked(&w(1000)).as_deref(), Ok("5"));
        assert!(normalize_checked(&w(1100)).is_err());
        assert!(normalize(&w(1100)).contains("\\text"));
        // Nested boxes peel in one pass over the text.
        let b = format!("{}7{}", "\\boxed{".repeat(1000), "}".repeat(1000));
        assert_eq!(normalize(&b), "7");
        // Answers past the 8 KiB cap are cut there first, as extraction cuts them.
        assert_eq!(normalize(&"9".repeat(20_000)).len(), crate::extract::MAX_ANSWER_BYTES);
    }
}
