//! `#[kasync_host::main]` and `#[kasync_host::test]`: an `async fn` run
//! to completion on a new [`Runtime`] — re-exported by `kasync_host`,
//! where they are documented with examples.
//!
//! Written on `proc_macro` alone: the function's tokens are kept as they
//! are, minus `async`, and its body becomes the future given to
//! `block_on`. So errors in the body point at the user's own code.
//!
//! [`Runtime`]: https://docs.rs/kasync-host

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn main` on a new kasync runtime (see
/// `kasync_host::main`).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, false)
}

/// Runs an `async fn` test on a new kasync runtime (see
/// `kasync_host::test`).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, true)
}

fn expand(args: TokenStream, item: TokenStream, test: bool) -> TokenStream {
    let name = if test { "test" } else { "main" };
    if let Some(arg) = args.into_iter().next() {
        return error(
            arg.span(),
            &format!(
                "#[kasync_host::{name}] takes no arguments (build a Runtime yourself for settings)"
            ),
        );
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    // `async` before `fn`, and the body: the last token, a brace group.
    let fn_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
    let Some(fn_at) = fn_at else {
        return error(
            Span::call_site(),
            &format!("#[kasync_host::{name}] goes on an `async fn`"),
        );
    };
    let async_at = tokens[..fn_at]
        .iter()
        .rposition(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    let Some(async_at) = async_at else {
        return error(
            tokens[fn_at].span(),
            &format!("#[kasync_host::{name}] goes on an `async fn`: add `async`"),
        );
    };
    let body = match tokens.last() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g.clone(),
        _ => {
            return error(
                Span::call_site(),
                &format!("#[kasync_host::{name}] needs a function with a body"),
            );
        }
    };
    if let Some(params) = parameters(&tokens[fn_at + 1..])
        && !params.stream().is_empty()
    {
        return error(
            params.span(),
            &format!("#[kasync_host::{name}] functions take no parameters"),
        );
    }
    tokens.remove(async_at);
    // The new body: `::kasync_host::__run(async move <body>)`.
    let run: TokenStream = [
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("kasync_host", Span::call_site())),
        TokenTree::Punct(Punct::new(':', Spacing::Joint)),
        TokenTree::Punct(Punct::new(':', Spacing::Alone)),
        TokenTree::Ident(Ident::new("__run", Span::call_site())),
        TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            [
                TokenTree::Ident(Ident::new("async", body.span())),
                TokenTree::Ident(Ident::new("move", body.span())),
                TokenTree::Group(body.clone()),
            ]
            .into_iter()
            .collect(),
        )),
    ]
    .into_iter()
    .collect();
    let mut new_body = Group::new(Delimiter::Brace, run);
    new_body.set_span(body.span());
    *tokens.last_mut().expect("the body is there") = TokenTree::Group(new_body);
    let mut out = TokenStream::new();
    if test {
        // `#[::core::prelude::v1::test]` in front: the built-in one, also
        // where `kasync_host::test` itself was imported as `test`.
        let mut path = Vec::new();
        for segment in ["core", "prelude", "v1", "test"] {
            path.push(TokenTree::Punct(Punct::new(':', Spacing::Joint)));
            path.push(TokenTree::Punct(Punct::new(':', Spacing::Alone)));
            path.push(TokenTree::Ident(Ident::new(segment, Span::call_site())));
        }
        out.extend([
            TokenTree::Punct(Punct::new('#', Spacing::Alone)),
            TokenTree::Group(Group::new(Delimiter::Bracket, path.into_iter().collect())),
        ]);
    }
    out.extend(tokens);
    out
}

/// The parameter list of a function whose tokens after `fn` are `after`:
/// the first parenthesised group outside the generics' angle brackets
/// (`fn name<F: Fn(u8) -> u8>(f: F)` has `(f: F)`).
fn parameters(after: &[TokenTree]) -> Option<&Group> {
    let mut depth = 0usize;
    let mut arrow = false;
    for token in after {
        match token {
            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
            // The `>` of `->` closes nothing.
            TokenTree::Punct(p) if p.as_char() == '>' && !arrow => depth = depth.saturating_sub(1),
            TokenTree::Group(g) if depth == 0 && g.delimiter() == Delimiter::Parenthesis => {
                return Some(g);
            }
            _ => {}
        }
        arrow = matches!(token, TokenTree::Punct(p) if p.as_char() == '-' && p.spacing() == Spacing::Joint);
    }
    None
}

/// `compile_error!("message")` at `span`.
fn error(span: Span, message: &str) -> TokenStream {
    let mut literal = proc_macro::Literal::string(message);
    literal.set_span(span);
    let tokens: TokenStream = [
        TokenTree::Ident(Ident::new("compile_error", span)),
        TokenTree::Punct(Punct::new('!', Spacing::Alone)),
        TokenTree::Group(Group::new(
            Delimiter::Parenthesis,
            [TokenTree::Literal(literal)].into_iter().collect(),
        )),
        TokenTree::Punct(Punct::new(';', Spacing::Alone)),
    ]
    .into_iter()
    .collect();
    tokens
}
