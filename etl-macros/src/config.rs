//! `#[config]` / `#[secret]` parameters of `#[etl::source]` and `#[etl::resource]`: which they
//! are, and the code that resolves them when the function is called.

use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Token, Type};

use crate::Errors;

/// A parameter marked `#[config]` or `#[secret]`.
pub(crate) struct ConfigParam {
    /// Its name: the config key.
    pub(crate) name: syn::Ident,
    /// `mut`, if the parameter had it.
    mutability: Option<Token![mut]>,
    ty: Type,
    /// An `Option` may be missing.
    optional: bool,
    /// The marker, where a compile error about config as a whole points.
    marker: Span,
}

/// Parameters marked `#[config]` (or `#[secret]`) are not arguments of the call: they are
/// resolved from dlt-style config (`SOURCES__<SECTION>__<ARG>`, `.etl/secrets.toml`,
/// `.etl/config.toml`) when the function is called. Returns the marked parameters and strips
/// the markers from `sig`; a marker on a parameter that is not a plain name is an error.
pub(crate) fn take_config_params(errors: &mut Errors, sig: &mut syn::Signature) -> Vec<ConfigParam> {
    let mut out = Vec::new();
    for input in sig.inputs.iter_mut() {
        let FnArg::Typed(pt) = input else { continue };
        let Some(marker) = pt.attrs.iter().find(|a| is_config_attr(a)).and_then(|a| a.path().get_ident().cloned()) else { continue };
        pt.attrs.retain(|a| !is_config_attr(a));
        match &*pt.pat {
            syn::Pat::Ident(id) if id.by_ref.is_none() && id.subpat.is_none() => {
                let optional = matches!(&*pt.ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"));
                out.push(ConfigParam { name: id.ident.clone(), mutability: id.mutability, ty: (*pt.ty).clone(), optional, marker: marker.span() });
            }
            other => errors.push(
                other.span(),
                format!("a `#[{marker}]` parameter needs a plain name, which is its config key: write `name: Type` instead of this pattern"),
            ),
        }
    }
    out
}

pub(crate) fn is_config_attr(a: &syn::Attribute) -> bool {
    a.path().is_ident("config") || a.path().is_ident("secret")
}

/// Resolves config parameters into local bindings of the same names; when any is missing (all
/// are reported at once, each with every place it was looked for), `on_error` runs with the
/// error as `__etl_config_error` (it returns a failed source or resource).
///
/// `keep_mut`: the bindings are the parameters themselves (a source's body uses them), so a
/// `mut` parameter stays `mut`.
pub(crate) fn config_prelude(section: &str, params: &[ConfigParam], keep_mut: bool, on_error: TokenStream2) -> TokenStream2 {
    let Some(first) = params.first() else { return quote!() };
    let names: Vec<_> = params.iter().map(|p| &p.name).collect();
    let bindings: Vec<_> = params
        .iter()
        .map(|p| {
            let (m, n) = (p.mutability.filter(|_| keep_mut), &p.name);
            quote!(#m #n)
        })
        .collect();
    let types: Vec<_> = params.iter().map(|p| &p.ty).collect();
    let required: Vec<String> = params.iter().filter(|p| !p.optional).map(|p| p.name.to_string()).collect();
    // Spanned on the first marker: without etl's `sources` feature this is the compile error.
    let resolve = quote_spanned!(first.marker=> ::etl::__private::config_args!(#section, &[#(#required),*], __EtlConfig));
    quote! {
        #[derive(::etl::__private::serde::Deserialize)]
        #[serde(crate = "::etl::__private::serde")]
        struct __EtlConfig { #(#names: #types),* }
        let __EtlConfig { #(#bindings),* } = match #resolve {
            ::etl::__private::Ok(__etl_config) => __etl_config,
            ::etl::__private::Err(__etl_config_error) => #on_error,
        };
    }
}
