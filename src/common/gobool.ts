// Go's strconv.ParseBool, which the docker CLI and dockerd use for every boolean they parse.

/** true or false as Go reads the string; null where Go's ParseBool fails. */
export function parseGoBool(v: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return null;
}
