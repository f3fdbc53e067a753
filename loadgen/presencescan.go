package loadgen

// A scanner for presence payloads that reads only what a view needs: each
// key and the phx_ref of each of its metas. presence_state is
// {"key": {"metas": [{..., "phx_ref": "..."}, ...], ...}, ...} and
// presence_diff is {"joins": <state>, "leaves": <state>}. It allocates
// nothing: 8 000 clients in one room read gigabytes of these.

// scanState calls fn for every (key, ref) of a state object at b[i:] and
// returns the index after it.
func scanState(b []byte, i int, fn func(key, ref []byte)) (int, bool) {
	return scanObject(b, i, func(key []byte, j int) (int, bool) { return scanEntry(b, j, key, fn) })
}

// scanEntry reads {"metas": [...], other fields} for key.
func scanEntry(b []byte, i int, key []byte, fn func(key, ref []byte)) (int, bool) {
	return scanObject(b, i, func(field []byte, j int) (int, bool) {
		if string(field) != "metas" {
			return skipValue(b, j)
		}
		return scanArray(b, j, func(j int) (int, bool) {
			return scanObject(b, j, func(field []byte, j int) (int, bool) {
				if string(field) != "phx_ref" {
					return skipValue(b, j)
				}
				ref, j, ok := scanString(b, j)
				if ok {
					fn(key, ref)
				}
				return j, ok
			})
		})
	})
}

// scanDiff calls join and leave for every (key, ref) of a presence_diff.
func scanDiff(b []byte, join, leave func(key, ref []byte)) bool {
	_, ok := scanObject(b, 0, func(field []byte, j int) (int, bool) {
		switch string(field) {
		case "joins":
			return scanState(b, j, join)
		case "leaves":
			return scanState(b, j, leave)
		}
		return skipValue(b, j)
	})
	return ok
}

// scanObject calls field for each member of the object at b[i:], with the
// index of its value; field returns the index after the value.
func scanObject(b []byte, i int, field func(name []byte, j int) (int, bool)) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		name, j, ok := scanString(b, i)
		if !ok {
			return j, false
		}
		if j, ok = expect(b, j, ':'); !ok {
			return j, false
		}
		if i, ok = field(name, skipSpace(b, j)); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		if b[i] == '}' {
			return i + 1, true
		}
		if b[i] != ',' {
			return i, false
		}
		i = skipSpace(b, i+1)
	}
}

// scanArray calls elem for each element of the array at b[i:].
func scanArray(b []byte, i int, elem func(j int) (int, bool)) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '[' {
		return i, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = elem(i); !ok {
			return i, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return i, false
		}
		if b[i] == ']' {
			return i + 1, true
		}
		if b[i] != ',' {
			return i, false
		}
		i = skipSpace(b, i+1)
	}
}

// scanString returns the raw contents of the string at b[i:] (escapes left
// as they are) and the index after its closing quote. The strings of a
// presence payload are short, so a plain loop beats a search call.
func scanString(b []byte, i int) ([]byte, int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	start := i + 1
	for j := start; j < len(b); j++ {
		switch b[j] {
		case '"':
			return b[start:j], j + 1, true
		case '\\':
			j++ // the escaped byte is never the end
		}
	}
	return nil, len(b), false
}

// skipValue returns the index after the JSON value at b[i:].
func skipValue(b []byte, i int) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		_, j, ok := scanString(b, i)
		return j, ok
	case '{':
		return scanObject(b, i, func(_ []byte, j int) (int, bool) { return skipValue(b, j) })
	case '[':
		return scanArray(b, i, func(j int) (int, bool) { return skipValue(b, j) })
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j, j > i
}

func expect(b []byte, i int, c byte) (int, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != c {
		return i, false
	}
	return i + 1, true
}
