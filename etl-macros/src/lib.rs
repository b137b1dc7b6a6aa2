//! The attribute macros of `etl`: `#[etl::resource]`, `#[etl::transformer]`, `#[etl::source]`,
//! `#[etl::assets]`, `#[etl::asset]`, `#[etl::asset_check]` and `#[etl::sensor]`.
//!
//! Each macro parses its options and the function, validates them (collecting every error, each
//! on the user's token, with how to fix it), and emits the function plus registration code. No
//! logic lives here: generated code calls `::etl::__private::...` and the runtime does the work.
//! On any error the original function is emitted unchanged next to the errors, so IDEs keep
//! working and no follow-on errors appear.

mod checks;
mod config;
mod options;

use config::{config_prelude, take_config_params};
use options::{check_dedup_sort, contract_tokens, doc_string, lit_bool, lit_int, lit_str, lit_str_list, need_value, parse_options, unknown_option};
use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, ReturnType, Type};

/// Collects errors so one build reports every mistake.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let e = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn push_err(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

fn debug_print(name: &str, tokens: &TokenStream2) {
    if std::env::var_os("ETL_MACROS_DEBUG").is_some() {
        eprintln!("--- #[etl::{name}] expansion ---\n{tokens}");
    }
}

/// Emits the original item plus the errors (tokio's fallback).
fn fallback(item: TokenStream2, errors: syn::Error) -> TokenStream {
    let errs = errors.to_compile_error();
    quote!(#item #errs).into()
}

/// The start shared by every attribute: the function, its options, and the shape checks.
struct Parsed {
    item: TokenStream2,
    func: ItemFn,
    errors: Errors,
    options: Vec<(syn::Ident, Option<Expr>, Span)>,
}

fn parse_attr(attr: TokenStream, item: TokenStream, kind: &str) -> Result<Parsed, TokenStream> {
    let item2: TokenStream2 = item.clone().into();
    let func = syn::parse::<ItemFn>(item).map_err(|e| fallback(item2.clone(), e))?;
    let mut errors = Errors::default();
    let options = parse_options(attr).unwrap_or_else(|e| {
        errors.push_err(e);
        Vec::new()
    });
    check_fn_shape(&mut errors, &func, kind);
    Ok(Parsed { item: item2, func, errors, options })
}

/// Where the annotated function is, as `etl::__private::Location` (expanded at the call site).
fn location() -> TokenStream2 {
    quote! {
        ::etl::__private::Location {
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: ::core::line!(),
            column: ::core::column!(),
        }
    }
}

/// Checks shared by all three attributes: a free, non-generic function.
fn check_fn_shape(errors: &mut Errors, func: &ItemFn, attr: &str) {
    if !func.sig.generics.params.is_empty() {
        errors.push(
            func.sig.generics.span(),
            format!("`#[etl::{attr}]` functions cannot be generic: there is no single function to register; make the types concrete"),
        );
    }
    if let Some(FnArg::Receiver(r)) = func.sig.inputs.first() {
        errors.push(r.span(), format!("`#[etl::{attr}]` must be on a free function, not a method; move it out of the `impl` block"));
    }
}

const RESOURCE_OPTIONS: &[&str] = &[
    "name",
    "table_name",
    "write_disposition",
    "primary_key",
    "merge_key",
    "max_table_nesting",
    "columns",
    "selected",
    "schema_contract",
    "incremental",
    "merge_strategy",
    "parallelized",
    "limit",
    "replayable",
];

/// `&etl::ResourceContext` parameters are not arguments of the call: the pipeline passes the
/// run's context when the resource runs.
fn is_context_param(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => match &*r.elem {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "ResourceContext"),
            _ => false,
        },
        _ => false,
    }
}

/// Declares a resource (dlt's `@dlt.resource`): a function returning any iterator of rows
/// (`Serialize` items, or `Result`s of them). Calling the function returns an `etl::Resource`
/// that pulls no data until a pipeline runs it. The doc comment becomes the description.
///
/// Options: `name`, `table_name`, `write_disposition = "append" | "replace" | "merge"`,
/// `primary_key`, `merge_key` (a column or a list), `max_table_nesting`, `columns` (an
/// expression giving `etl::ColumnHint`s; a literal given to `.dedup_sort(..)` there must be
/// `"asc"` or `"desc"`), `selected`, `schema_contract = "evolve" | "freeze" |
/// "discard_row" | "discard_value"`, `incremental = etl::Incremental::new("cursor")...`,
/// `parallelized = true`, `limit = N`, `replayable = false` (the function consumes what it
/// yields, e.g. acknowledges queue messages: a failed run keeps its items as a pending package;
/// by default a resource function is replayable and a failed run keeps nothing of it, see
/// `etl::Resource::replayable`).
///
/// Parameters marked `#[config]` or `#[secret]` (plain names only) are not arguments of the call
/// either: they are resolved from config when the function is called, and a resource whose
/// values are missing fails its run with an error naming every place looked.
///
/// A parameter of type `&etl::ResourceContext` is not an argument of the call: it receives the
/// run's incremental window (`start_value`, `last_value`, `end_value`) so the function can push
/// the filter down to its source.
#[proc_macro_attribute]
pub fn resource(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_resource(attr, item, false)
}

/// Declares a transformer (dlt's `@dlt.transformer`): a resource fed by the items of another.
/// The first parameter receives one item of `data_from` (deserialized into its type); the
/// function returns the rows for it, like a resource (an iterator, a `Vec`, or a `Result` of
/// either). Other parameters become the arguments of the call and must be `Clone`.
///
/// ```ignore
/// #[etl::transformer(data_from = users(), write_disposition = "merge", primary_key = "id")]
/// fn user_details(user: User) -> Result<Vec<Detail>, MyError> { fetch_details(user.id) }
/// ```
///
/// Takes every `#[etl::resource]` option but `parallelized` (it runs in its parent's pass:
/// parallelize the parent). Its asset's default dep is `<source>_<root resource>`
/// (dagster-dlt's rule). In a source, the parent is extracted once per run for its own table (if
/// selected) and every transformer it feeds; called on its own, the transformer runs its parent
/// inside itself.
#[proc_macro_attribute]
pub fn transformer(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_resource(attr, item, true)
}

fn expand_resource(attr: TokenStream, item: TokenStream, transformer: bool) -> TokenStream {
    let kind = if transformer { "transformer" } else { "resource" };
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, kind) {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    let ret_ty = match &func.sig.output {
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.push(
                func.sig.ident.span(),
                "a resource function must return its rows: add a return type such as `-> Vec<MyRow>` or `-> impl Iterator<Item = MyRow>`",
            );
            None
        }
    };

    let mut func = func;
    let config = take_config_params(&mut errors, &mut func.sig);
    let is_config = |pt: &syn::PatType| matches!(&*pt.pat, syn::Pat::Ident(id) if config.iter().any(|c| c.name == id.ident));
    let mut name = func.sig.ident.to_string();
    // Setters of literal options, then those of expressions (which may use config values).
    let mut setters = Vec::new();
    let mut expr_setters = Vec::new();
    let mut data_from = None;
    let mut parallel = quote!();
    let mut limit = quote!();
    let valid: Vec<&str> = RESOURCE_OPTIONS.iter().copied().chain(transformer.then_some("data_from")).collect();
    for (ident, value, _span) in options {
        let key = ident.to_string();
        if !valid.contains(&key.as_str()) {
            unknown_option(&mut errors, &ident, kind, &valid);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match key.as_str() {
            "data_from" => data_from = Some(value),
            "limit" => {
                if let Some(n) = lit_int(&mut errors, &ident, &value) {
                    limit = quote!(.add_limit(#n as usize));
                }
            }
            "parallelized" => {
                if let Some(true) = lit_bool(&mut errors, &ident, &value) {
                    if transformer {
                        errors.push(
                            ident.span(),
                            "a transformer cannot be `parallelized`: it runs item by item in its parent's pass; put `parallelized = true` on the parent resource",
                        );
                    } else {
                        parallel = quote!(.parallelized(64));
                    }
                }
            }
            "name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    name = s.value();
                }
            }
            "table_name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    setters.push(quote!(__hints.table_name = ::etl::__private::Some(::etl::__private::String::from(#s));));
                }
            }
            "write_disposition" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    let variant = match s.value().as_str() {
                        "append" => Some(quote!(Append)),
                        "replace" => Some(quote!(Replace)),
                        "merge" => Some(quote!(Merge)),
                        other => {
                            errors.push(s.span(), format!("unknown write disposition `{other}`; expected one of `append`, `replace`, `merge`"));
                            None
                        }
                    };
                    if let Some(v) = variant {
                        setters.push(quote!(__hints.write_disposition = ::etl::__private::WriteDisposition::#v;));
                    }
                }
            }
            "primary_key" | "merge_key" => {
                if let Some(cols) = lit_str_list(&mut errors, &ident, &value) {
                    let field = format_ident!("{}", key);
                    setters.push(quote!(__hints.#field = ::etl::__private::vec![#(::etl::__private::String::from(#cols)),*];));
                }
            }
            "max_table_nesting" => {
                if let Some(n) = lit_int(&mut errors, &ident, &value) {
                    setters.push(quote!(__hints.max_table_nesting = ::etl::__private::Some(#n);));
                }
            }
            "selected" => {
                if let Some(b) = lit_bool(&mut errors, &ident, &value) {
                    setters.push(quote!(__hints.selected = #b;));
                }
            }
            "replayable" => {
                if let Some(b) = lit_bool(&mut errors, &ident, &value) {
                    setters.push(quote!(__hints.replayable = ::etl::__private::Some(#b);));
                }
            }
            "schema_contract" => {
                if let Some(c) = contract_tokens(&mut errors, &ident, &value) {
                    setters.push(quote!(__hints.schema_contract = ::etl::__private::Some(#c);));
                }
            }
            "merge_strategy" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    match s.value().as_str() {
                        "delete-insert" => setters.push(quote!(__hints.merge_strategy = ::etl::__private::MergeStrategy::DeleteInsert;)),
                        "upsert" => setters.push(quote!(__hints.merge_strategy = ::etl::__private::MergeStrategy::Upsert;)),
                        "scd2" => setters.push(quote!(__hints.merge_strategy = ::etl::__private::MergeStrategy::Scd2;)),
                        _ => errors.push(s.span(), "unknown merge strategy; expected `delete-insert`, `upsert` or `scd2`"),
                    }
                }
            }
            "incremental" => {
                expr_setters.push(quote_spanned!(value.span()=>
                    __hints.incremental = ::etl::__private::Some(#value);
                ));
            }
            "columns" => {
                check_dedup_sort(&mut errors, &value);
                expr_setters.push(quote_spanned!(value.span()=>
                    __hints.columns = ::etl::__private::IntoIterator::into_iter(#value).collect();
                ));
            }
            _ => unreachable!("checked against the options"),
        }
    }
    if transformer && data_from.is_none() {
        errors.push(Span::call_site(), "`#[etl::transformer]` needs `data_from = ...`, the resource whose items it receives, e.g. `data_from = users()`");
    }
    // The item parameter of a transformer: its first parameter that is not the context.
    let item_param = func.sig.inputs.iter().position(|a| matches!(a, FnArg::Typed(pt) if !is_context_param(&pt.ty) && !is_config(pt)));
    if transformer && item_param.is_none() {
        errors.push(func.sig.ident.span(), "a transformer takes the parent's item as its first parameter, e.g. `fn details(user: User) -> Vec<Detail>`");
    }
    // The function itself is unusable: emit it unchanged with the errors.
    let usable = func.sig.generics.params.is_empty() && !matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)));
    let Some(ret_ty) = ret_ty.filter(|_| usable && (!transformer || (data_from.is_some() && item_param.is_some()))) else {
        return fallback(item2, errors.0.unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid resource function")));
    };
    // Option errors: expand with the valid options so callers see a `Resource` (no follow-on
    // errors), and report the bad options.
    let option_errors = errors.0.map(|e| e.to_compile_error()).unwrap_or_default();
    let description = match doc_string(&func.attrs) {
        Some(d) => quote!(__hints.description = ::etl::__private::Some(::etl::__private::String::from(#d));),
        None => quote!(),
    };

    let prelude = config_prelude(&name, &config, false, quote!(return ::etl::__private::Resource::failed(__hints, __etl_config_error)));
    let ItemFn { attrs, vis, sig, block } = &func;
    let fn_name = &sig.ident;
    let mut outer_inputs = Vec::new();
    let mut arg_names = Vec::new();
    let mut item_ty = None;
    for (i, input) in sig.inputs.iter().enumerate() {
        if let FnArg::Typed(pt) = input {
            if is_context_param(&pt.ty) {
                arg_names.push(quote!(__cx));
                continue;
            }
            if let syn::Pat::Ident(id) = &*pt.pat {
                if config.iter().any(|c| c.name == id.ident) {
                    let n = &id.ident;
                    arg_names.push(quote!(::core::clone::Clone::clone(&#n)));
                    continue;
                }
            }
            let ty = &pt.ty;
            if transformer && Some(i) == item_param {
                item_ty = Some(ty.clone());
                arg_names.push(quote!(__item));
                continue;
            }
            let arg = format_ident!("__etl_arg{}", i);
            outer_inputs.push(quote!(#arg: #ty));
            // A transformer calls the function once per item: its arguments are cloned.
            arg_names.push(if transformer { quote!(::core::clone::Clone::clone(&#arg)) } else { quote!(#arg) });
        }
    }
    let inner_inputs = &sig.inputs;
    let asyncness = &sig.asyncness;
    let call = quote!(__etl_body(#(#arg_names),*));
    // An `async fn` runs to completion on etl's runtime, on the thread that pulls the rows.
    let call = if asyncness.is_some() { quote!(::etl::__private::block_on(#call)) } else { call };
    // `ResourceReturn::into_rows` is called directly, spanned on the return type, so a return
    // type that is not rows is reported there with the trait's own message.
    let into_rows = quote_spanned!(ret_ty.span()=> ::etl::__private::ResourceReturn::into_rows(__r));
    // A transformer's items are values; a resource's are kept typed until the pipeline writes
    // them (straight from `Serialize` where the fast path applies).
    let (boxed, convert, failed) = if transformer {
        (quote!(boxed_items), quote!(into_value), quote!(failed_items))
    } else {
        (quote!(boxed_typed_items), quote!(into_typed), quote!(failed_typed_items))
    };
    let produce = quote! {
        #[allow(unused_imports)]
        use ::etl::__private::{PlainKind as _, ResultKind as _, RetPlainKind as _, RetResultKind as _};
        let __ret = #call;
        match (&__ret).__etl_ret().rows(__ret) {
            ::etl::__private::Rows::Rows(__r) => ::etl::__private::Ok(::etl::__private::#boxed(
                ::etl::__private::Iterator::map(#into_rows, |__row| (&__row).__etl_kind().#convert(__row)),
            )),
            ::etl::__private::Rows::Failed(__e) => ::etl::__private::Ok(::etl::__private::#failed(__e)),
        }
    };
    let make = if transformer {
        let data_from = data_from.expect("checked");
        let item_ty = item_ty.expect("checked");
        quote_spanned!(data_from.span()=>
            let __parent: ::etl::__private::Resource = ::core::convert::Into::into(#data_from);
            ::etl::__private::Resource::transformer(__hints, __parent, move |__item, __cx: &::etl::__private::ResourceContext| {
                let _ = __cx;
                let __item: #item_ty = ::etl::__private::item_as(#name, __item)?;
                #produce
            })
        )
    } else {
        quote!(
            ::etl::__private::Resource::typed(__hints, move |__cx: &::etl::__private::ResourceContext| {
                let _ = __cx;
                #produce
            })
        )
    };
    let expanded = quote! {
        #(#attrs)*
        #vis fn #fn_name(#(#outer_inputs),*) -> ::etl::__private::Resource {
            #[allow(clippy::needless_return)]
            #asyncness fn __etl_body(#inner_inputs) -> #ret_ty #block
            let mut __hints = ::etl::__private::ResourceHints::new(#name);
            #(#setters)*
            #description
            #prelude
            #(#expr_setters)*
            ({ #make }) #limit #parallel
        }
        #option_errors
    };
    debug_print("resource", &expanded);
    expanded.into()
}

const SOURCE_OPTIONS: &[&str] = &["name", "max_table_nesting", "schema_contract"];

/// Declares a source (dlt's `@dlt.source`): a function whose body returns one resource, a tuple
/// or a `Vec` of resources. It returns an `etl::Source` named after the function (or `name`);
/// the source name is the schema name. Options: `name`, `max_table_nesting`, `schema_contract`.
#[proc_macro_attribute]
pub fn source(attr: TokenStream, item: TokenStream) -> TokenStream {
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, "source") {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    if let Some(a) = &func.sig.asyncness {
        errors.push(a.span(), "`#[etl::source]` functions cannot be `async`: a source only declares resources");
    }
    if matches!(func.sig.output, ReturnType::Default) {
        errors.push(func.sig.ident.span(), "a source function must declare `-> etl::Source`");
    }
    let mut name = func.sig.ident.to_string();
    let mut nesting = quote!();
    let mut contract = quote!();
    for (ident, value, _) in options {
        let key = ident.to_string();
        if !SOURCE_OPTIONS.contains(&key.as_str()) {
            unknown_option(&mut errors, &ident, "source", SOURCE_OPTIONS);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match key.as_str() {
            "name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    name = s.value();
                }
            }
            "max_table_nesting" => {
                if let Some(n) = lit_int(&mut errors, &ident, &value) {
                    nesting = quote!(let __source = __source.with_max_table_nesting(#n););
                }
            }
            "schema_contract" => {
                if let Some(c) = contract_tokens(&mut errors, &ident, &value) {
                    contract = quote!(let __source = __source.with_schema_contract(#c););
                }
            }
            _ => unreachable!("checked against SOURCE_OPTIONS"),
        }
    }
    let shape_ok = func.sig.generics.params.is_empty()
        && func.sig.asyncness.is_none()
        && !matches!(func.sig.inputs.first(), Some(FnArg::Receiver(_)))
        && !matches!(func.sig.output, ReturnType::Default);
    if !shape_ok {
        return fallback(item2, errors.0.unwrap_or_else(|| syn::Error::new(Span::call_site(), "invalid source function")));
    }
    let mut func = func;
    let config = take_config_params(&mut errors, &mut func.sig);
    let prelude = config_prelude(&name, &config, true, quote!(return ::etl::__private::Source::failed(#name, __etl_config_error)));
    let option_errors = errors.0.map(|e| e.to_compile_error()).unwrap_or_default();
    let ItemFn { attrs, vis, sig, block } = &func;
    let fn_name = &sig.ident;
    let inputs = sig.inputs.iter().filter(|i| match i {
        FnArg::Typed(pt) => !matches!(&*pt.pat, syn::Pat::Ident(id) if config.iter().any(|c| c.name == id.ident)),
        FnArg::Receiver(_) => true,
    });
    let expanded = quote! {
        #(#attrs)*
        #vis fn #fn_name(#(#inputs),*) -> ::etl::__private::Source {
            #prelude
            #[allow(clippy::redundant_closure_call, clippy::needless_return, unused_mut)]
            let __resources = ::etl::__private::IntoResources::into_resources((move || #block)());
            ::etl::__private::make_source(#name, __resources, |__source| { #nesting #contract __source })
        }
        #option_errors
    };
    debug_print("source", &expanded);
    expanded.into()
}

const ASSETS_OPTIONS: &[&str] = &["dlt_source", "dlt_pipeline", "name", "group_name", "translator", "retry", "pool", "partitions"];

/// Declares one asset per selected resource of a dlt source (dagster-dlt's `@dlt_assets`).
///
/// ```ignore
/// #[etl::assets(dlt_source = simple_source(), dlt_pipeline = etl::pipeline("p").dataset_name("d"))]
/// fn dlt_assets(context: &etl::AssetExecutionContext, dlt: &etl::DltResource) -> etl::Materializations {
///     dlt.run(context)
/// }
/// ```
///
/// Parameters are injected by type. Options: `dlt_source` and `dlt_pipeline` (required,
/// evaluated lazily), `name` (op name), `group_name`, `translator` (an `etl::DltTranslator`),
/// `retry = etl::RetryPolicy::new(3)...`, `pool = "name"` (besides the DuckDB file's own pool),
/// `partitions = etl::daily_partitions("2024-01-01")` (each resource's incremental then loads
/// the run's window; `dlt_source = |partition| my_source(partition.key())` builds the source
/// of the run's partition).
#[proc_macro_attribute]
pub fn assets(attr: TokenStream, item: TokenStream) -> TokenStream {
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, "assets") {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    if let Some(a) = &func.sig.asyncness {
        errors.push(a.span(), "`#[etl::assets]` functions cannot be `async` yet; make it a plain `fn`");
    }
    let mut source_expr = None;
    let mut pipeline_expr = None;
    let mut op_name = func.sig.ident.to_string();
    let mut group = quote!(::etl::__private::None);
    let mut translator = quote!(::etl::__private::None);
    let mut translator_fn = quote!();
    let (mut retry, mut retry_fn, mut pool) = (quote!(::etl::__private::None), quote!(), quote!(::etl::__private::None));
    let (mut partitions, mut partitions_fn) = (quote!(::etl::__private::None), quote!());
    for (ident, value, _) in options {
        let key = ident.to_string();
        if !ASSETS_OPTIONS.contains(&key.as_str()) {
            unknown_option(&mut errors, &ident, "assets", ASSETS_OPTIONS);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match key.as_str() {
            "dlt_source" => source_expr = Some(value),
            "dlt_pipeline" => pipeline_expr = Some(value),
            "name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    op_name = s.value();
                }
            }
            "group_name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    group = quote!(::etl::__private::Some(#s));
                }
            }
            "translator" => {
                translator_fn = quote_spanned!(value.span()=>
                    fn __etl_translator() -> ::etl::__private::Box<dyn ::etl::__private::DltTranslator> {
                        ::etl::__private::Box::new(#value)
                    }
                );
                translator = quote!(::etl::__private::Some(__etl_translator));
            }
            "retry" => (retry, retry_fn) = retry_tokens(&value),
            "pool" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    pool = quote!(::etl::__private::Some(#s));
                }
            }
            "partitions" => (partitions, partitions_fn) = partitions_tokens(&value),
            _ => unreachable!("checked against ASSETS_OPTIONS"),
        }
    }
    if source_expr.is_none() {
        errors.push(
            Span::call_site(),
            "`#[etl::assets]` needs `dlt_source = ...`, the source whose resources become assets, e.g. `dlt_source = my_source()`",
        );
    }
    if pipeline_expr.is_none() {
        errors.push(
            Span::call_site(),
            "`#[etl::assets]` needs `dlt_pipeline = ...`, e.g. `dlt_pipeline = etl::pipeline(\"my_pipeline\").dataset_name(\"my_data\")`",
        );
    }
    if let Some(e) = errors.0 {
        return fallback(item2, e);
    }
    let (source_expr, pipeline_expr) = (source_expr.expect("checked"), pipeline_expr.expect("checked"));
    let fn_name = &func.sig.ident;
    let guard = format_ident!("__ETL_ASSETS_{}", fn_name, span = fn_name.span());
    let glue = param_glue(&func);
    let (call, ret_span) = (&glue.call, glue.ret_span);
    let call = quote_spanned!(ret_span=> ::etl::__private::IntoAssetOutput::into_output(#call));
    let op_fns = op_fns(&glue, &call);
    let (source_fn, source_for) = match &source_expr {
        Expr::Closure(closure) => {
            if closure.inputs.len() != 1 {
                return fallback(item2, syn::Error::new(closure.span(), "a `dlt_source` closure takes one argument, the run's partition: `dlt_source = |partition| my_source(partition.key())`"));
            }
            if partitions_fn.is_empty() {
                return fallback(item2, syn::Error::new(closure.span(), "a `dlt_source` closure gets the run's partition: add `partitions = ...` (e.g. `partitions = etl::daily_partitions(\"2024-01-01\")`), or give the source as an expression"));
            }
            let f = quote_spanned!(source_expr.span()=>
                fn __etl_source_for(__partition: &::etl::__private::Partition) -> ::etl::__private::Source {
                    let __f: fn(&::etl::__private::Partition) -> ::etl::__private::Source = #source_expr;
                    __f(__partition)
                }
                fn __etl_source() -> ::etl::__private::Source {
                    __etl_source_for(&::etl::__private::Partition::for_discovery(&__etl_partitions()))
                }
            );
            (f, quote!(::etl::__private::Some(__etl_source_for)))
        }
        _ => (
            quote_spanned!(source_expr.span()=>
                fn __etl_source() -> ::etl::__private::Source { #source_expr }
            ),
            quote!(::etl::__private::None),
        ),
    };
    let pipeline_fn = quote_spanned!(pipeline_expr.span()=>
        fn __etl_pipeline() -> ::etl::__private::Pipeline { #pipeline_expr }
    );
    let location = location();
    let expanded = registration(&func, &guard, quote! {
            #source_fn
            #pipeline_fn
            #translator_fn
            #op_fns
            #retry_fn
            #partitions_fn
            ::etl::__private::inventory::submit! {
                ::etl::__private::DltAssetsDef {
                    name: #op_name,
                    location: #location,
                    source: __etl_source,
                    pipeline: __etl_pipeline,
                    invoke: __etl_invoke,
                    group_name: #group,
                    translator: #translator,
                    requirements: __etl_requirements,
                    retry: #retry,
                    pool: #pool,
                    partitions: #partitions,
                    source_for: #source_for,
                    configs: __etl_configs,
                }
            }
    });
    debug_print("assets", &expanded);
    expanded.into()
}

/// The parameter resolution shared by `#[etl::assets]` and `#[etl::asset]`: one
/// `AssetParam::resolve` per parameter (spanned on its type, so a type that cannot be injected
/// is reported there), the requirements for validation, and the call.
struct ParamGlue {
    resolves: Vec<TokenStream2>,
    reqs: Vec<TokenStream2>,
    configs: Vec<TokenStream2>,
    call: TokenStream2,
    ret_span: Span,
}

/// The function, a guard const named after it, and the registration `items` in an anonymous
/// const (shared by `#[etl::assets]` and `#[etl::asset]`).
fn registration(func: &ItemFn, guard: &syn::Ident, items: TokenStream2) -> TokenStream2 {
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        const #guard: () = ();

        #[doc(hidden)]
        #[allow(non_snake_case, clippy::needless_question_mark)]
        const _: () = {
            #items
        };
    }
}

/// `__etl_invoke` (every parameter resolved, then `call`), `__etl_requirements` and
/// `__etl_configs`.
fn op_fns(glue: &ParamGlue, call: &TokenStream2) -> TokenStream2 {
    let ParamGlue { resolves, reqs, configs, .. } = glue;
    quote! {
        fn __etl_invoke(__cx: &::etl::__private::InvokeContext<'_>) -> ::etl::__private::Materializations {
            #(#resolves)*
            #call
        }
        fn __etl_requirements() -> ::etl::__private::Vec<::etl::__private::Option<::etl::__private::Requirement>> {
            ::etl::__private::vec![#(#reqs),*]
        }
        fn __etl_configs() -> ::etl::__private::Vec<::etl::__private::Option<::etl::__private::ConfigCheck>> {
            ::etl::__private::vec![#(#configs),*]
        }
    }
}

fn param_glue(func: &ItemFn) -> ParamGlue {
    let params: Vec<Type> = func
        .sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(pt) => Some((*pt.ty).clone()),
            FnArg::Receiver(_) => None,
        })
        .collect();
    let fn_name = &func.sig.ident;
    let ret_span = match &func.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => fn_name.span(),
    };
    let names: Vec<_> = (0..params.len()).map(|i| format_ident!("__etl_p{}", i)).collect();
    ParamGlue {
        resolves: params
            .iter()
            .zip(&names)
            .map(|(ty, name)| quote_spanned!(ty.span()=> let #name: #ty = ::etl::__private::AssetParam::resolve(__cx)?;))
            .collect(),
        reqs: params.iter().map(|ty| quote_spanned!(ty.span()=> <#ty as ::etl::__private::AssetParam<'_>>::requirement())).collect(),
        configs: params.iter().map(|ty| quote_spanned!(ty.span()=> <#ty as ::etl::__private::AssetParam<'_>>::config_check())).collect(),
        call: quote!(#fn_name(#(#names),*)),
        ret_span,
    }
}

/// `partitions = <expr>`: an `etl::PartitionsDefinition` (or a builder that converts into one),
/// evaluated when the graph is built.
fn partitions_tokens(value: &Expr) -> (TokenStream2, TokenStream2) {
    let f = quote_spanned!(value.span()=>
        fn __etl_partitions() -> ::etl::__private::PartitionsDefinition { ::etl::__private::Into::into(#value) }
    );
    (quote!(::etl::__private::Some(__etl_partitions)), f)
}

/// `retry = <expr>`: an `etl::RetryPolicy` expression, evaluated when the op runs.
fn retry_tokens(value: &Expr) -> (TokenStream2, TokenStream2) {
    let f = quote_spanned!(value.span()=>
        fn __etl_retry() -> ::etl::__private::RetryPolicy { #value }
    );
    (quote!(::etl::__private::Some(__etl_retry)), f)
}

const ASSET_OPTIONS: &[&str] = &["key", "deps", "group_name", "kinds", "tags", "description", "pool", "retry", "partitions"];

/// Declares a plain asset (Dagster's `@asset`) for work downstream of the loads, e.g. a report
/// that queries loaded tables:
///
/// ```ignore
/// /// Orders per user.
/// #[etl::asset(deps = ["dlt_shop_orders"], group_name = "reports")]
/// fn order_report(context: &etl::AssetExecutionContext, db: &etl::DuckDbResource) -> Result<etl::MaterializeResult, etl::AssetError> {
///     let rows = db.query(context, "SELECT count(*) FROM shop.orders")?;
///     Ok(etl::MaterializeResult::new().with("rows", etl::MetadataValue::Int(rows.len() as i64)))
/// }
/// ```
///
/// Parameters are injected by type, as for `#[etl::assets]`. Options: `key` (`"a/b"`, default
/// the function name), `deps` (upstream keys), `group_name`, `kinds`, `tags` (`["k=v", "flag"]`),
/// `description` (default: the doc comment), `pool` (run alone in this named pool),
/// `retry = etl::RetryPolicy::new(3)...`. It returns `()`, `etl::MaterializeResult`, or a
/// `Result` of either.
#[proc_macro_attribute]
pub fn asset(attr: TokenStream, item: TokenStream) -> TokenStream {
    let Parsed { item: item2, func, mut errors, options } = match parse_attr(attr, item, "asset") {
        Ok(p) => p,
        Err(tokens) => return tokens,
    };
    if let Some(a) = &func.sig.asyncness {
        errors.push(a.span(), "`#[etl::asset]` functions cannot be `async` yet; make it a plain `fn`");
    }
    let fn_name = &func.sig.ident;
    let mut key = fn_name.to_string();
    let mut deps: Vec<syn::LitStr> = Vec::new();
    let mut kinds: Vec<syn::LitStr> = Vec::new();
    let mut tags: Vec<syn::LitStr> = Vec::new();
    let mut group = quote!(::etl::__private::None);
    let mut pool = quote!(::etl::__private::None);
    let mut description = doc_string(&func.attrs);
    let (mut retry, mut retry_fn) = (quote!(::etl::__private::None), quote!());
    let (mut partitions, mut partitions_fn) = (quote!(::etl::__private::None), quote!());
    for (ident, value, _) in options {
        let name = ident.to_string();
        if !ASSET_OPTIONS.contains(&name.as_str()) {
            unknown_option(&mut errors, &ident, "asset", ASSET_OPTIONS);
            continue;
        }
        let Some(value) = need_value(&mut errors, &ident, value, "...") else { continue };
        match name.as_str() {
            "key" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    if s.value().split('/').any(str::is_empty) {
                        errors.push(s.span(), "an asset key is one or more non-empty parts separated by `/`, e.g. `\"reports/orders\"`");
                    }
                    key = s.value();
                }
            }
            "deps" => deps = lit_str_list(&mut errors, &ident, &value).unwrap_or_default(),
            "kinds" => kinds = lit_str_list(&mut errors, &ident, &value).unwrap_or_default(),
            "tags" => tags = lit_str_list(&mut errors, &ident, &value).unwrap_or_default(),
            "group_name" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    group = quote!(::etl::__private::Some(#s));
                }
            }
            "pool" => {
                if let Some(s) = lit_str(&mut errors, &ident, &value) {
                    pool = quote!(::etl::__private::Some(#s));
                }
            }
            "description" => description = lit_str(&mut errors, &ident, &value).map(|s| s.value()),
            "retry" => (retry, retry_fn) = retry_tokens(&value),
            "partitions" => (partitions, partitions_fn) = partitions_tokens(&value),
            _ => unreachable!("checked against ASSET_OPTIONS"),
        }
    }
    if let Some(e) = errors.0 {
        return fallback(item2, e);
    }
    let description = match description {
        Some(d) => quote!(::etl::__private::Some(#d)),
        None => quote!(::etl::__private::None),
    };
    let glue = param_glue(&func);
    // Bound to a local spanned on the return type, so a wrong return type is reported there.
    let out = quote_spanned!(glue.ret_span=> __etl_out);
    let call = &glue.call;
    let call = quote! {
        let #out = #call;
        ::etl::__private::plain_asset_output(__cx.context, #out)
    };
    let op_fns = op_fns(&glue, &call);
    let guard = format_ident!("__ETL_ASSET_{}", fn_name, span = fn_name.span());
    let op_name = fn_name.to_string();
    let location = location();
    let expanded = registration(&func, &guard, quote! {
            #op_fns
            #retry_fn
            #partitions_fn
            ::etl::__private::inventory::submit! {
                ::etl::__private::AssetDef {
                    name: #op_name,
                    key: #key,
                    deps: &[#(#deps),*],
                    group_name: #group,
                    kinds: &[#(#kinds),*],
                    tags: &[#(#tags),*],
                    description: #description,
                    pool: #pool,
                    retry: #retry,
                    location: #location,
                    invoke: __etl_invoke,
                    requirements: __etl_requirements,
                    partitions: #partitions,
                    configs: __etl_configs,
                }
            }
    });
    debug_print("asset", &expanded);
    expanded.into()
}

/// Declares a check of an asset (Dagster's `@asset_check`), run after the asset is materialized
/// in the same run:
///
/// ```ignore
/// #[etl::asset_check(asset = "dlt_shop_orders", blocking = true)]
/// fn orders_have_rows(db: &etl::DuckDbResource, context: &etl::AssetExecutionContext) -> Result<etl::AssetCheckResult, etl::AssetError> {
///     let n = db.query(context, "SELECT count(*) AS n FROM shop.orders")?[0]["n"].as_i64().unwrap_or(0);
///     Ok(etl::AssetCheckResult::new(n > 0, format!("{n} orders")))
/// }
/// ```
///
/// Parameters are injected by type, as for assets. Options: `asset` (required), `blocking`
/// (a failure with severity error skips the downstream), `name`, `description`. It returns
/// `etl::AssetCheckResult`, `bool`, or a `Result` of either.
#[proc_macro_attribute]
pub fn asset_check(attr: TokenStream, item: TokenStream) -> TokenStream {
    checks::asset_check(attr, item)
}

/// Declares a sensor (Dagster's `@sensor`), evaluated by the daemon every `minimum_interval`
/// seconds:
///
/// ```ignore
/// #[etl::sensor(minimum_interval = 30, target = "dlt_shop_orders")]
/// fn new_orders(context: &etl::SensorContext) -> etl::SensorResult {
///     etl::SensorResult::new().request(etl::RunRequest::new("key")).cursor("...")
/// }
/// ```
///
/// Options: `minimum_interval` (seconds, default 30), `target` (the selection of requests that
/// name none), `name`, `description`. It returns `etl::SensorResult`, `Vec<etl::RunRequest>`,
/// or a `Result` of either.
#[proc_macro_attribute]
pub fn sensor(attr: TokenStream, item: TokenStream) -> TokenStream {
    checks::sensor(attr, item)
}
