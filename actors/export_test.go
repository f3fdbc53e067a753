package actors

// PendingBirths counts channel births no actor has picked up yet.
func PendingBirths() int {
	n := 0
	births.Range(func(_, _ any) bool { n++; return true })
	return n
}
