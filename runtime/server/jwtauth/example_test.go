package jwtauth_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/ssync-go/ssync/runtime/server/jwtauth"
)

func ExampleNew() {
	secret := []byte("an example secret of at least 32 bytes!")
	auth, err := jwtauth.New(secret)
	if err != nil {
		panic(err)
	}
	// A token for alice, who may also act for bob. Tokens usually come
	// from an identity provider that shares the secret.
	token, err := jwtauth.Mint(secret, "alice", []string{"bob"}, time.Hour)
	if err != nil {
		panic(err)
	}

	r := httptest.NewRequest("GET", "/api/sync/pull", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	id, err := auth.Authenticate(r)
	fmt.Println(id.SyncID, id.Linked, err)

	r.Header.Set("Authorization", "Bearer "+token+"x")
	_, err = auth.Authenticate(r)
	fmt.Println(err)
	// Output:
	// alice [bob] <nil>
	// unauthenticated: token signature is invalid
}
