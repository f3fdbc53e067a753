package engine

// WidenRecoveryWindow makes every recovering join run f between its
// subscription and its history read, until the returned function runs.
func WidenRecoveryWindow(f func()) (restore func()) {
	betweenSubscribeAndRead = f
	return func() { betweenSubscribeAndRead = nil }
}
