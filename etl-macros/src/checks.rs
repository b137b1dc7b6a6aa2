//! `#[etl::asset_check]` and `#[etl::sensor]`: parse, validate, register.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::options::{doc_string, lit_bool, lit_int, lit_str, need_value, unknown_option};
use crate::{debug_print, fallback, location, param_glue, parse_attr, registration, Parsed};

const CHECK_OPTIONS: &[&str] = &["asset", "blocking", "name", "description"];

pub(crate) fn asset_check(attr: TokenStream, item: TokenStream) -> TokenStream {
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, "asset_check") {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    if let Some(a) = &func.sig.asyncness {
        errors.push(a.span(), "`#[etl::asset_check]` functions cannot be `async` yet; make it a plain `fn`");
    }
    let fn_name = &func.sig.ident;
    let mut name = fn_name.to_string();
    let mut asset: Option<syn::LitStr> = None;
    let mut blocking = false;
    let mut description = doc_string(&func.attrs);
    for (ident, value, _) in options {
        let key = ident.to_string();
        if !CHECK_OPTIONS.contains(&key.as_str()) {
            unknown_option(&mut errors, &ident, "asset_check", CHECK_OPTIONS);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match key.as_str() {
            "asset" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    if s.value().split('/').any(str::is_empty) {
                        errors.push(s.span(), "an asset key is one or more non-empty parts separated by `/`, e.g. `\"dlt_shop_orders\"`");
                    }
                    asset = Some(s);
                }
            }
            "blocking" => blocking = lit_bool(&mut errors, &ident, &value).unwrap_or(false),
            "name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    name = s.value();
                }
            }
            "description" => description = lit_str(&mut errors, &ident, &value).map(|s| s.value()),
            _ => unreachable!("checked against CHECK_OPTIONS"),
        }
    }
    if asset.is_none() {
        errors.push(Span::call_site(), "`#[etl::asset_check]` needs `asset = \"...\"`, the key of the asset it checks, e.g. `asset = \"dlt_shop_orders\"`");
    }
    if let Some(e) = errors.0 {
        return fallback(item2, e);
    }
    let asset = asset.expect("checked");
    let description = match description {
        Some(d) => quote!(::etl::__private::Some(#d)),
        None => quote!(::etl::__private::None),
    };
    let glue = param_glue(&func);
    let (resolves, reqs, configs, call) = (&glue.resolves, &glue.reqs, &glue.configs, &glue.call);
    let out = quote_spanned!(glue.ret_span=> __etl_out);
    let guard = format_ident!("__ETL_ASSET_CHECK_{}", fn_name, span = fn_name.span());
    let location = location();
    let expanded = registration(&func, &guard, quote! {
        fn __etl_invoke(__cx: &::etl::__private::InvokeContext<'_>) -> ::etl::__private::Result<::etl::__private::AssetCheckResult, ::etl::__private::AssetError> {
            #(#resolves)*
            let #out = #call;
            ::etl::__private::IntoCheckResult::into_check_result(#out)
        }
        fn __etl_requirements() -> ::etl::__private::Vec<::etl::__private::Option<::etl::__private::Requirement>> {
            ::etl::__private::vec![#(#reqs),*]
        }
        fn __etl_configs() -> ::etl::__private::Vec<::etl::__private::Option<::etl::__private::ConfigCheck>> {
            ::etl::__private::vec![#(#configs),*]
        }
        ::etl::__private::inventory::submit! {
            ::etl::__private::AssetCheckDef {
                name: #name,
                asset: #asset,
                blocking: #blocking,
                description: #description,
                location: #location,
                invoke: __etl_invoke,
                requirements: __etl_requirements,
                configs: __etl_configs,
            }
        }
    });
    debug_print("asset_check", &expanded);
    expanded.into()
}

const SENSOR_OPTIONS: &[&str] = &["minimum_interval", "target", "name", "description"];

pub(crate) fn sensor(attr: TokenStream, item: TokenStream) -> TokenStream {
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, "sensor") {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    if let Some(a) = &func.sig.asyncness {
        errors.push(a.span(), "`#[etl::sensor]` functions cannot be `async` yet; make it a plain `fn`");
    }
    let fn_name = &func.sig.ident;
    let mut name = fn_name.to_string();
    let mut interval: u32 = 30;
    let mut target = quote!(::etl::__private::None);
    let mut description = doc_string(&func.attrs);
    for (ident, value, _) in options {
        let key = ident.to_string();
        if !SENSOR_OPTIONS.contains(&key.as_str()) {
            unknown_option(&mut errors, &ident, "sensor", SENSOR_OPTIONS);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match key.as_str() {
            "minimum_interval" => {
                if let Some(n) = lit_int(&mut errors, &ident, &value) {
                    if n == 0 {
                        errors.push(value.span(), "`minimum_interval` is in seconds and at least 1, e.g. `minimum_interval = 30`");
                    }
                    interval = n;
                }
            }
            "target" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    target = quote!(::etl::__private::Some(#s));
                }
            }
            "name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    name = s.value();
                }
            }
            "description" => description = lit_str(&mut errors, &ident, &value).map(|s| s.value()),
            _ => unreachable!("checked against SENSOR_OPTIONS"),
        }
    }
    let inputs = func.sig.inputs.len();
    if inputs > 1 {
        errors.push(func.sig.inputs.span(), "a sensor takes its context and nothing else: `fn my_sensor(context: &etl::SensorContext) -> etl::SensorResult`");
    }
    if let Some(e) = errors.0 {
        return fallback(item2, e);
    }
    let description = match description {
        Some(d) => quote!(::etl::__private::Some(#d)),
        None => quote!(::etl::__private::None),
    };
    let call: TokenStream2 = if inputs == 1 { quote!(#fn_name(__cx)) } else { quote!(#fn_name()) };
    let ret_span = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => fn_name.span(),
    };
    let out = quote_spanned!(ret_span=> __etl_out);
    let guard = format_ident!("__ETL_SENSOR_{}", fn_name, span = fn_name.span());
    let location = location();
    let interval = u64::from(interval);
    let expanded = registration(&func, &guard, quote! {
        fn __etl_evaluate(__cx: &::etl::__private::SensorContext) -> ::etl::__private::Result<::etl::__private::SensorResult, ::etl::__private::AssetError> {
            let #out = #call;
            ::etl::__private::IntoSensorResult::into_sensor_result(#out)
        }
        ::etl::__private::inventory::submit! {
            ::etl::__private::SensorDef {
                name: #name,
                minimum_interval_secs: #interval,
                target: #target,
                description: #description,
                location: #location,
                evaluate: __etl_evaluate,
            }
        }
    });
    debug_print("sensor", &expanded);
    expanded.into()
}
