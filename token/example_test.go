package token_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/pyrehq/pyre/token"
)

func Example() {
	// A fixed clock keeps the output stable; real code leaves WithClock out.
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	secret := []byte("use 32 random bytes in real code")

	s, err := token.NewSigner(secret, "user socket",
		token.WithMaxAge(time.Hour),
		token.WithClock(func() time.Time { return now }),
	)
	if err != nil {
		panic(err)
	}

	tok := s.Sign([]byte("user:42"))

	data, err := s.Verify(tok)
	fmt.Printf("%s %v\n", data, err)

	_, err = s.Verify(tok[:len(tok)-2] + "xx")
	fmt.Println(errors.Is(err, token.ErrInvalid))

	now = now.Add(2 * time.Hour)
	_, err = s.Verify(tok)
	fmt.Println(err)

	_, err = s.Verify("")
	fmt.Println(err)

	// Output:
	// user:42 <nil>
	// true
	// token: expired
	// token: missing
}
