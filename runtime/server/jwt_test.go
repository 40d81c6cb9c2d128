package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "github.com/mattn/go-sqlite3"

	"github.com/ssync-go/ssync/generated"
	"github.com/ssync-go/ssync/internal/storetest"
	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/server/jwtauth"
)

var (
	jwtSecret      = []byte("0123456789abcdef0123456789abcdef-test-secret")
	jwtOtherSecret = []byte("fedcba9876543210fedcba9876543210-other-secret")
)

// jwtServer is a sync API over a SQLite store, authenticated with
// NewJWTAuth(jwtSecret).
type jwtServer struct {
	t   *testing.T
	url string
	db  *sql.DB
}

func newJWTServer(t *testing.T, opts ...jwtauth.Option) *jwtServer {
	t.Helper()
	st, db := storetest.SQLite().Store(t, generated.Registry())
	auth, err := jwtauth.New(jwtSecret, opts...)
	if err != nil {
		t.Fatal(err)
	}
	url := storetest.Serve(t, st, server.Config{Authenticator: auth})
	return &jwtServer{t: t, url: url + "/api/sync", db: db}
}

// do sends a request with the given Authorization header value (none when
// empty) and returns the status and body.
func (s *jwtServer) do(method, path, authorization, body string) (int, string) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rows returns every note row with its owner and version.
func (s *jwtServer) rows() string {
	s.t.Helper()
	rows, err := s.db.Query(`SELECT id, message, ss_sync_id, ss_version FROM ss_tb_note ORDER BY id`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, msg, owner string
		var v int64
		if err := rows.Scan(&id, &msg, &owner, &v); err != nil {
			s.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s|%s|%s|%d\n", id, msg, owner, v)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return b.String()
}

// pulled returns the messages of the notes a pull with token returns.
func (s *jwtServer) pulled(token string) []string {
	s.t.Helper()
	status, body := s.do("GET", "/pull?collections=ss_tb_note", "Bearer "+token, "")
	if status != 200 {
		s.t.Fatalf("pull: %d %s", status, body)
	}
	var sets []struct {
		Changes struct {
			Created []map[string]any `json:"created"`
		} `json:"changes"`
	}
	if err := json.Unmarshal([]byte(body), &sets); err != nil {
		s.t.Fatalf("pull body %s: %v", body, err)
	}
	var out []string
	for _, set := range sets {
		for _, row := range set.Changes.Created {
			out = append(out, fmt.Sprintf("%v:%v", row["syncId"], row["message"]))
		}
	}
	return out
}

func jwtNote(id, msg, owner string) string {
	o := ""
	if owner != "" {
		o = `"syncId":"` + owner + `",`
	}
	return `{"id":"` + id + `","createdAt":"2024-12-21T17:25:53.961871","updatedAt":"2024-12-21T17:25:53.961871","deletedAt":null,` + o +
		`"message":"` + msg + `","completed":false,"userId":null,"userName":"John"}`
}

func jwtPush(created, updated []string) string {
	return `[{"collection":"ss_tb_note","changes":{"created":[` + strings.Join(created, ",") +
		`],"updated":[` + strings.Join(updated, ",") + `],"deleted":[]}}]`
}

func mint(t *testing.T, secret []byte, sub string, linked ...string) string {
	t.Helper()
	tok, err := jwtauth.Mint(secret, sub, linked, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign signs claims with method and key, bypassing MintJWT's checks.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func valid(sub string) jwt.MapClaims {
	return jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
}

func TestJWTValidTokenPushesAndPulls(t *testing.T) {
	s := newJWTServer(t)
	alice := mint(t, jwtSecret, "alice")
	if status, body := s.do("POST", "/push", "Bearer "+alice, jwtPush([]string{jwtNote(id1, "one", "")}, nil)); status != 200 {
		t.Fatalf("push: %d %s", status, body)
	}
	if got := s.pulled(alice); len(got) != 1 || got[0] != "alice:one" {
		t.Fatalf("alice pulled %v, want [alice:one]", got)
	}
	// The scheme name is case-insensitive (RFC 9110).
	if status, body := s.do("POST", "/push", "bearer "+alice, jwtPush(nil, []string{jwtNote(id1, "two", "")})); status != 200 {
		t.Fatalf("push with lower-case scheme: %d %s", status, body)
	}
	if got := s.rows(); !strings.Contains(got, "|two|alice|") {
		t.Fatalf("store after update: %s", got)
	}
	// Another user sees nothing of alice's.
	if got := s.pulled(mint(t, jwtSecret, "bob")); len(got) != 0 {
		t.Fatalf("bob pulled %v", got)
	}
}

func TestJWTRefusals(t *testing.T) {
	s := newJWTServer(t)
	alice := mint(t, jwtSecret, "alice")
	if status, body := s.do("POST", "/push", "Bearer "+alice, jwtPush([]string{jwtNote(id1, "kept", "")}, nil)); status != 200 {
		t.Fatalf("push: %d %s", status, body)
	}
	before := s.rows()

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	// A token whose signature is alice's but whose payload names bob.
	parts := strings.Split(alice, ".")
	spliced := parts[0] + "." + b64([]byte(`{"sub":"bob","exp":`+fmt.Sprint(time.Now().Add(time.Hour).Unix())+`}`)) + "." + parts[2]

	cases := []struct {
		name, auth, want string
	}{
		{"no header", "", "missing Authorization header"},
		{"basic auth", "Basic YWxpY2U6c2VjcmV0", "not a Bearer token"},
		{"bare token", alice, "not a Bearer token"},
		{"empty bearer", "Bearer ", "empty Bearer token"},
		{"garbage", "Bearer not-a-token", "malformed token"},
		{"garbage with dots", "Bearer aaa.bbb.ccc", "malformed token"},
		{"other secret", "Bearer " + mint(t, jwtOtherSecret, "alice"), "signature is invalid"},
		{"spliced payload", "Bearer " + spliced, "signature is invalid"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-time.Minute).Unix()}), "token expired"},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice"}), "no exp claim"},
		{"not yet valid", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(2 * time.Hour).Unix(), "nbf": time.Now().Add(time.Hour).Unix()}), "not valid yet"},
		{"issued in the future", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(2 * time.Hour).Unix(), "iat": time.Now().Add(time.Hour).Unix()}), "issued in the future (iat)"},
		{"alg none", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid("alice")), `signed with "none"; only HS256`},
		{"HS512", "Bearer " + sign(t, jwt.SigningMethodHS512, jwtSecret, valid("alice")), `signed with "HS512"; only HS256`},
		{"RS256", "Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, valid("alice")), `signed with "RS256"; only HS256`},
		{"unknown alg", "Bearer " + b64([]byte(`{"alg":"XX999","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"alice"}`)) + ".c2ln", `unsupported algorithm "XX999"`},
		{"missing sub", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}), "no sub claim"},
		{"empty sub", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, valid("")), "no sub claim"},
		{"linked not an array", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "linked": "bob"}), "malformed linked claim"},
		{"linked with a number", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "linked": []any{"bob", 7}}), "malformed linked claim: element 1 is not a string"},
		{"linked with an empty id", "Bearer " + sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix(), "linked": []any{""}}), "malformed linked claim: element 0 is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/push", jwtPush([]string{jwtNote(id2, "intruder", "")}, []string{jwtNote(id1, "hijacked", "alice")})},
				{"GET", "/pull?collections=ss_tb_note", ""},
			} {
				status, body := s.do(req.method, req.path, c.auth, req.body)
				var e struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(body), &e); err != nil {
					t.Fatalf("%s %s: body %q is not JSON: %v", req.method, req.path, body, err)
				}
				if status != 401 || e.Error.Code != "unauthenticated" || !strings.Contains(e.Error.Message, c.want) {
					t.Fatalf("%s %s = %d %s, want 401 unauthenticated saying %q", req.method, req.path, status, body, c.want)
				}
				if tok, ok := strings.CutPrefix(c.auth, "Bearer "); ok && len(tok) > 12 && strings.Contains(body, tok) {
					t.Fatalf("error body echoes the token: %s", body)
				}
			}
		})
	}
	if got := s.rows(); got != before {
		t.Fatalf("refused requests changed the store:\nbefore %s\nafter  %s", before, got)
	}
}

func TestJWTLinkedUsers(t *testing.T) {
	s := newJWTServer(t)
	bob := mint(t, jwtSecret, "bob")
	if status, body := s.do("POST", "/push", "Bearer "+bob, jwtPush([]string{jwtNote(id1, "bob's", "")}, nil)); status != 200 {
		t.Fatalf("bob's push: %d %s", status, body)
	}
	const id3 = "0b7a8a5e-3f0e-4c51-9d1e-8f3c2b0a6d11"

	// Not linked: alice neither sees nor writes bob's rows.
	alone := mint(t, jwtSecret, "alice", "carol")
	if got := s.pulled(alone); len(got) != 0 {
		t.Fatalf("unlinked alice pulled %v", got)
	}
	before := s.rows()
	for _, body := range []string{
		jwtPush(nil, []string{jwtNote(id1, "alice was here", "")}),
		jwtPush([]string{jwtNote(id3, "for bob", "bob")}, nil),
	} {
		if status, resp := s.do("POST", "/push", "Bearer "+alone, body); status != 403 {
			t.Fatalf("unlinked alice's push = %d %s, want 403", status, resp)
		}
	}
	if got := s.rows(); got != before {
		t.Fatalf("refused pushes changed the store:\nbefore %s\nafter  %s", before, got)
	}

	// Linked: alice reads and writes bob's rows; they stay bob's.
	linked := mint(t, jwtSecret, "alice", "bob")
	if got := s.pulled(linked); len(got) != 1 || got[0] != "bob:bob's" {
		t.Fatalf("linked alice pulled %v, want [bob:bob's]", got)
	}
	if status, body := s.do("POST", "/push", "Bearer "+linked, jwtPush([]string{jwtNote(id3, "for bob", "bob")}, []string{jwtNote(id1, "alice was here", "")})); status != 200 {
		t.Fatalf("linked alice's push: %d %s", status, body)
	}
	got := s.rows()
	if !strings.Contains(got, id1+"|alice was here|bob|") || !strings.Contains(got, id3+"|for bob|bob|") {
		t.Fatalf("store after linked push:\n%s", got)
	}
	// Bob sees both; bob is not linked to alice, so alice's own rows stay
	// hers alone.
	if status, body := s.do("POST", "/push", "Bearer "+linked, jwtPush([]string{jwtNote(id2, "alice's own", "")}, nil)); status != 200 {
		t.Fatalf("alice's own push: %d %s", status, body)
	}
	if got := s.pulled(bob); len(got) != 2 {
		t.Fatalf("bob pulled %v, want his 2 notes", got)
	}
}

func TestJWTOptions(t *testing.T) {
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/api/sync/pull", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	expired := sign(t, jwt.SigningMethodHS256, jwtSecret, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(-30 * time.Second).Unix()})
	strict, err := jwtauth.New(jwtSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := strict.Authenticate(req(expired)); !errors.Is(err, server.ErrUnauthenticated) {
		t.Fatalf("expired token without leeway: %v", err)
	}
	lenient, err := jwtauth.New(jwtSecret, jwtauth.WithLeeway(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := lenient.Authenticate(req(expired)); err != nil || id.SyncID != "alice" {
		t.Fatalf("token 30s past expiry with 1m leeway = %+v, %v", id, err)
	}

	scoped, err := jwtauth.New(jwtSecret, jwtauth.WithIssuer("https://id.example"), jwtauth.WithAudience("notes"))
	if err != nil {
		t.Fatal(err)
	}
	claims := func(iss, aud string) jwt.MapClaims {
		c := valid("alice")
		if iss != "" {
			c["iss"] = iss
		}
		if aud != "" {
			c["aud"] = aud
		}
		return c
	}
	for _, c := range []struct {
		iss, aud, want string
	}{
		{"https://id.example", "notes", ""},
		{"https://evil.example", "notes", "wrong issuer"},
		{"https://id.example", "other", "not for this audience"},
		{"", "notes", "no iss claim"},
		{"https://id.example", "", "no aud claim"},
	} {
		id, err := scoped.Authenticate(req(sign(t, jwt.SigningMethodHS256, jwtSecret, claims(c.iss, c.aud))))
		if c.want == "" {
			if err != nil || id.SyncID != "alice" {
				t.Errorf("iss %q aud %q: %+v, %v; want alice", c.iss, c.aud, id, err)
			}
			continue
		}
		if !errors.Is(err, server.ErrUnauthenticated) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("iss %q aud %q: %v, want unauthenticated saying %q", c.iss, c.aud, err, c.want)
		}
	}
}

func TestJWTSecretAndMintChecks(t *testing.T) {
	if _, err := jwtauth.New([]byte("too short")); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("NewJWTAuth with a 9-byte secret: %v, want a refusal", err)
	}
	if _, err := jwtauth.New(nil); err == nil {
		t.Error("NewJWTAuth with no secret succeeded")
	}
	for _, c := range []struct {
		name   string
		secret []byte
		sub    string
		linked []string
		ttl    time.Duration
	}{
		{"short secret", []byte("short"), "alice", nil, time.Hour},
		{"empty sub", jwtSecret, "", nil, time.Hour},
		{"empty linked", jwtSecret, "alice", []string{"bob", ""}, time.Hour},
		{"zero ttl", jwtSecret, "alice", nil, 0},
	} {
		if tok, err := jwtauth.Mint(c.secret, c.sub, c.linked, c.ttl); err == nil {
			t.Errorf("MintJWT %s = %q, want an error", c.name, tok)
		}
	}
	// The secret is copied: changing the caller's slice later changes nothing.
	secret := []byte(string(jwtSecret))
	auth, err := jwtauth.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, jwtSecret, "alice")
	secret[0] ^= 0xff
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, err := auth.Authenticate(r); err != nil {
		t.Errorf("after the caller changed its secret slice: %v", err)
	}
}
