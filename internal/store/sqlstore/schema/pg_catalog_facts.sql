-- One line per catalogue fact of the public schema, sorted, so two databases
-- can be compared as text. Used by gen.sh and by the schema test.
SELECT f FROM (
  SELECT 'col|' || table_name || '|' || lpad(ordinal_position::text, 3, '0') || '|' || column_name || '|' ||
         data_type || '|' || coalesce(character_maximum_length::text, '') || '|' || is_nullable || '|' ||
         coalesce(column_default, '') AS f
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT 'con|' || c.conrelid::regclass::text || '|' || c.conname || '|' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'idx|' || tablename || '|' || indexname || '|' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT 'trg|' || t.tgrelid::regclass::text || '|' || t.tgname || '|' || pg_get_triggerdef(t.oid)
    FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'fn|' || p.proname || '|' || md5(pg_get_functiondef(p.oid))
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'seq|' || sequencename || '|' || data_type::text || '|' || start_value || '|' || increment_by
    FROM pg_sequences WHERE schemaname = 'public'
) facts ORDER BY f;
