package token_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pyrehq/pyre/token"
)

func ExamplePhoenix() {
	// The Phoenix app's secret_key_base (config :my_app, MyAppWeb.Endpoint,
	// secret_key_base: ...) and the salt it passes to Phoenix.Token.
	secretKeyBase := []byte(strings.Repeat("a", 64))
	signedAt := time.Unix(1_700_000_000, 0)

	// A fixed clock keeps the output stable; real code leaves it out.
	now := signedAt.Add(time.Hour)
	p, err := token.NewPhoenix(secretKeyBase, "user auth",
		token.WithPhoenixClock(func() time.Time { return now }))
	if err != nil {
		panic(err)
	}

	// What Elixir returns for
	// Phoenix.Token.sign(secret_key_base, "user auth", 42, signed_at: 1_700_000_000)
	fromPhoenix := "SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.x2GV8fzmggTQdkMlzdkfE2mSNoVoWKMMirhPRqMzXSc"

	data, err := p.Verify(fromPhoenix)
	fmt.Printf("%v (%T) %v\n", data, data, err)

	// Thirteen days later the token's own max age (one day) has passed,
	// but the verifier may allow more, as Phoenix apps often do with
	// max_age: 1_209_600.
	now = signedAt.Add(13 * 24 * time.Hour)
	_, err = p.Verify(fromPhoenix)
	fmt.Println(errors.Is(err, token.ErrExpired))
	data, err = p.Verify(fromPhoenix, token.VerifyMaxAge(14*24*time.Hour))
	fmt.Println(data, err)

	// The other way round: the same call as in Elixir gives the same token.
	tok, err := p.Sign(42, token.SignedAt(signedAt))
	fmt.Println(tok == fromPhoenix, err)

	// Maps with string keys arrive in Elixir as %{"id" => 7, "role" => :admin}.
	tok, err = p.Sign(map[string]any{"id": 7, "role": token.Atom("admin")})
	if err != nil {
		panic(err)
	}
	data, err = p.Verify(tok)
	fmt.Println(data, err)

	// Output:
	// 42 (int64) <nil>
	// true
	// 42 <nil>
	// true <nil>
	// map[id:7 role:admin] <nil>
}
