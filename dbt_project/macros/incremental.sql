{#- The incremental facts re-read the rows of the load batches they have not fully absorbed, by
    batch, not by clock, so a daily run reads that day's loads however recent the backfill is:
      - a batch none of whose rows the fact holds (a new load, a late CTI file, a record updated
        weeks later: its new version carries its new batch), and
      - a batch not recorded as finished before the fact's previous build started (a load still
        running then, or one without a record): the CTI loader commits file by file and records
        its batch after the last file, so the fact may hold part of such a batch.
    Every loader commits a batch's rows with its record in meta.load_batches, except the CTI's,
    which records it after its files; both times come from the warehouse's clock, so the test is
    exact and needs no safety margin. Each fact keeps `batch_id` (the batch of the row's version it
    merged) and `merged_at` (when: now() of the build, the start of its transaction, before its
    snapshot). A fact whose merged_at is empty (built before it existed) re-reads everything once;
    a full refresh reads everything. -#}
{% macro incremental_window() -%}
    {%- if is_incremental() and has_columns(this, ['batch_id', 'merged_at']) -%}
        (
            batch_id not in (
                select distinct existing.batch_id from {{ this }} as existing
                where existing.batch_id is not null
            )
            or batch_id not in (
                select batches.batch_id from {{ source('loads', 'load_batches') }} as batches
                where batches.finished_at < (select max(existing.merged_at) from {{ this }} as existing)
            )
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Whether `relation` has these columns: a fact built before they existed (an upgrade) is read
    whole once, and the merge adds them (on_schema_change: append_new_columns). -#}
{% macro has_columns(relation, names) -%}
    {%- if not execute -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set present = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {{ return(names | reject('in', present) | list | length == 0) }}
{%- endmacro %}

{#- Rows another fact merged since this one's last build (`merged_at_column` is theirs): what an
    incremental run must look at again because of them; nothing on a full build. -#}
{% macro merged_since_last_build(merged_at_column) -%}
    {%- if is_incremental() and has_columns(this, ['merged_at']) -%}
        {{ merged_at_column }} >= (select max(existing.merged_at) from {{ this }} as existing)
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- Rows archived at the source since the fact merged them: the model leaves archived rows out, so
    a merge alone would keep them. Pre-hook of the incremental facts, run before the merge in its
    transaction. It reads the raw table's `archived` column (one row per id) rather than the
    staging view, so no JSON is parsed to find a handful of rows. -#}
{% macro delete_archived(key_column, source_name, table_name) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ key_column }} in (
            select archived.id from {{ source(source_name, table_name) }} as archived
            where archived.archived
        )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
