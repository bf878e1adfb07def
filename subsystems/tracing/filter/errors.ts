/**
 * The filter parser's messages (kernel/trace/trace_events_filter.c err_text[]), in Linux's
 * order: the index is the error number a parse_error records. These texts are API: they
 * appear in the event's filter file and in error_log, and tests match them exactly.
 */
export const FILT_ERR = {
  NONE: 0,
  INVALID_OP: 1,
  TOO_MANY_OPEN: 2,
  TOO_MANY_CLOSE: 3,
  MISSING_QUOTE: 4,
  MISSING_BRACE_OPEN: 5,
  MISSING_BRACE_CLOSE: 6,
  OPERAND_TOO_LONG: 7,
  EXPECT_STRING: 8,
  EXPECT_DIGIT: 9,
  ILLEGAL_FIELD_OP: 10,
  FIELD_NOT_FOUND: 11,
  ILLEGAL_INTVAL: 12,
  BAD_SUBSYS_FILTER: 13,
  TOO_MANY_PREDS: 14,
  INVALID_FILTER: 15,
  INVALID_CPULIST: 16,
  IP_FIELD_ONLY: 17,
  INVALID_VALUE: 18,
  NO_FUNCTION: 19,
  ERRNO: 20,
  NO_FILTER: 21,
} as const;

export const ERR_TEXT: readonly string[] = [
  'No error',
  'Invalid operator',
  "Too many '('",
  "Too few '('",
  'Missing matching quote',
  "Missing '{'",
  "Missing '}'",
  'Operand too long',
  'Expecting string field',
  'Expecting numeric field',
  'Illegal operation for field type',
  'Field not found',
  'Illegal integer value',
  "Couldn't find or set field in one of a subsystem's events",
  'Too many terms in predicate expression',
  'Meaningless filter expression',
  'Invalid cpulist',
  "Only 'ip' field is supported for function trace",
  'Invalid value (did you forget quotes)?',
  'Function not found',
  'Error',
  'No filter found',
];
