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
pub fn normalize(ans: &str) -> String {
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
fn strip_delims(s: &str) -> &str {
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
                if let Some(end) = matching_brace(inner, 0) {
                    if end == inner.len() - 1 {
                        s = inner[..end].trim();
                    }
                }
            }
        }
        if s.ends_with('.') && !s.ends_with("..") {
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

fn rewrite_commands(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
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
                        if ch == ',' && prev_is_digit(&out) && next_is_digit(b, start + 1) {
                        } else if ch != '!' || (out.ends_with(|c: char| c.is_ascii_alphabetic()) && b.get(start + 1).is_some_and(|c| c.is_ascii_alphabetic())) {
                            // `\!` joins, except between a command and a letter (`2\pi\!r` is `2\pi r`).
                            push_space(&mut out);
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
                        if let Some(e) = matching_brace(s, i + 1) {
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
                    if let Some(e) = matching_brace(s, k + 1) {
                        let inner = rewrite_commands(&s[k + 1..e]);
                        let word = inner.trim();
                        if after_quantity(&out) && is_unit_text(word) {
                            // `12\,\mathrm{cm}`, `5 \text{ m/s}`, `15000 \text{ kcal m}^{-2}`: a unit, dropped.
                            i = skip_exponent(s, e + 1);
                            if word.eq_ignore_ascii_case("percent") {
                                out.push('%');
                            }
                            continue;
                        }
                        if name == "operatorname" {
                            out.push('\\');
                            out.push_str(inner.trim());
                            out.push(' ');
                        } else {
                            push_space(&mut out);
                            out.push_str(inner.trim());
                            out.push(' ');
                        }
                        i = e + 1;
                        continue;
                    }
                }
                continue;
            }
            let replacement = match name {
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
                "to" | "rightarrow" | "longrightarrow" => "\\to",
                "Rightarrow" | "implies" | "Longrightarrow" => "\\implies",
                "dots" | "ldots" | "cdots" => "\\dots",
                "varepsilon" => "\\epsilon",
                "varphi" => "\\phi",
                "vartheta" => "\\theta",
                "tg" => "\\tan",
                "ctg" => "\\cot",
                "arctg" => "\\arctan",
                "ge" | "le" | "ne" => {
                    out.push('\\');
                    out.push_str(name);
                    out.push(' ');
                    continue;
                }
                _ => "",
            };
            if !replacement.is_empty() {
                out.push_str(replacement);
                if replacement.starts_with('\\') && replacement[1..].chars().all(|c| c.is_ascii_alphabetic()) {
                    out.push(' ');
                }
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
        if c == b'\'' && after_quantity(&out) && out.trim_end().ends_with(|c: char| c.is_ascii_digit()) {
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
            push_space(&mut out);
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
                let inner_t = skip_spacing(inner);
                if inner_t.starts_with("\\circ") {
                    if let Some(e) = matching_brace(inner, 0) {
                        i = skip_temperature_scale(s, s.len() - inner.len() + e + 1);
                        continue;
                    }
                }
                if inner_t.starts_with("\\prime") {
                    if let Some(e) = matching_brace(inner, 0) {
                        let primes = inner[..e].matches("\\prime").count();
                        i = s.len() - inner.len() + e + 1;
                        push_primes(&mut out, primes);
                        continue;
                    }
                }
            }
            if rest_t.starts_with("\\prime") {
                i = s.len() - rest_t.len() + 6;
                push_primes(&mut out, 1);
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
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
        && !matches!(
            lw.trim_end_matches('.'),
            "or" | "and" | "if" | "for" | "when" | "where" | "otherwise" | "is" | "i" | "e" | "p.m" | "a.m" | "pm" | "am"
        )
        && !lw.starts_with("or ")
        && !lw.starts_with("and ")
}

/// Skip an exponent (`^2`, `^{-1}`) at `i`, returning the index after it.
fn skip_exponent(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    let mut j = i;
    while j < b.len() && b[j] == b' ' {
        j += 1;
    }
    if j < b.len() && b[j] == b'^' {
        j += 1;
        if j < b.len() && b[j] == b'{' {
            if let Some(e) = matching_brace(s, j + 1) {
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
fn push_primes(out: &mut String, n: usize) {
    if out.trim_end().ends_with(|c: char| c.is_ascii_digit()) {
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

fn prev_is_digit(out: &str) -> bool {
    out.trim_end().ends_with(|c: char| c.is_ascii_digit())
}

fn next_is_digit(b: &[u8], mut i: usize) -> bool {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    i < b.len() && b[i].is_ascii_digit()
}

fn push_space(out: &mut String) {
    if !out.ends_with(' ') && !out.is_empty() {
        out.push(' ');
    }
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
        for s in ["\\frac{1}{2}", "(-\\infty, 1) \\cup (2, \\infty)", "x \\le 3", "1, 2, 3", "\\text{ east }"] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s}");
        }
    }
}
