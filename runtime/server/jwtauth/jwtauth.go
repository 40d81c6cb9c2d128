// Package jwtauth is an ssync server Authenticator that takes the identity
// from an HS256 JSON Web Token: "sub" is the user's sync id, "linked" the
// sync ids of the users whose rows it may also read and write.
//
//	auth, err := jwtauth.New(secret)
//	srv, err := server.New(server.Config{Store: store, Authenticator: auth})
//
// Mint makes tokens it accepts, for development tools and tests.
package jwtauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/ssync-go/ssync/runtime/server"
	"github.com/ssync-go/ssync/runtime/store"
)

// MinSecretBytes is the shortest HS256 secret New and Mint
// accept: 32 bytes, the size of the HMAC-SHA256 output. Generate one with
// e.g. `openssl rand -hex 32`.
const MinSecretBytes = 32

// jwtAlg is the only signing algorithm accepted.
const jwtAlg = "HS256"

// LinkedClaim is the name of the claim that lists the sync ids of the
// users a token's subject is linked to.
const LinkedClaim = "linked"

// Option configures the authenticator New returns.
type Option func(*jwtConfig)

type jwtConfig struct {
	leeway   time.Duration
	issuer   string
	audience string
}

// WithLeeway accepts tokens up to d past their expiry (and d before
// their nbf or iat), to absorb clock skew between the token issuer and the
// server. The default is no leeway.
func WithLeeway(d time.Duration) Option {
	return func(c *jwtConfig) { c.leeway = d }
}

// WithIssuer requires the iss claim to equal iss.
func WithIssuer(iss string) Option {
	return func(c *jwtConfig) { c.issuer = iss }
}

// WithAudience requires the aud claim to contain aud.
func WithAudience(aud string) Option {
	return func(c *jwtConfig) { c.audience = aud }
}

// jwtClaims are the claims a sync token carries: the registered ones (sub
// is the sync id, exp is required) and the linked users. linked is kept raw
// so that a malformed one is reported as such, not as a malformed token.
type jwtClaims struct {
	jwt.RegisteredClaims
	Linked json.RawMessage `json:"linked,omitempty"`
}

// jwtAuth is the Authenticator New returns.
type jwtAuth struct {
	secret []byte
	parser *jwt.Parser
}

// New returns an Authenticator that takes the identity from an HS256
// JSON Web Token in the request's "Authorization: Bearer <token>" header:
//
//   - the signature must verify with secret, and the header's alg must be
//     HS256 (none, HS384/HS512 and asymmetric algorithms are refused);
//   - the token must carry an exp claim and not be expired (see
//     WithLeeway), and nbf/iat, when present, must not be in the future;
//   - sub is the user's sync id and must be a non-empty string;
//   - linked, when present, must be a JSON array of non-empty strings: the
//     sync ids of the users whose rows the subject may also read and write;
//   - with WithIssuer and WithAudience, iss and aud must match.
//
// Every refusal wraps server.ErrUnauthenticated (the server answers 401) and says
// what is wrong without repeating the token. New refuses secrets
// shorter than MinSecretBytes. Mint makes tokens it accepts.
func New(secret []byte, opts ...Option) (server.Authenticator, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("ssync jwtauth: secret is %d bytes; it must be at least %d random bytes", len(secret), MinSecretBytes)
	}
	var cfg jwtConfig
	for _, o := range opts {
		o(&cfg)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwtAlg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.leeway),
	}
	if cfg.issuer != "" {
		popts = append(popts, jwt.WithIssuer(cfg.issuer))
	}
	if cfg.audience != "" {
		popts = append(popts, jwt.WithAudience(cfg.audience))
	}
	return &jwtAuth{secret: bytes.Clone(secret), parser: jwt.NewParser(popts...)}, nil
}

// Authenticate implements server.Authenticator.
func (a *jwtAuth) Authenticate(r *http.Request) (store.Identity, error) {
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		return store.Identity{}, unauthenticated("missing Authorization header (want \"Authorization: Bearer <token>\")")
	}
	scheme, raw, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return store.Identity{}, unauthenticated("Authorization header is not a Bearer token")
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return store.Identity{}, unauthenticated("empty Bearer token")
	}
	var claims jwtClaims
	tok, err := a.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, errors.New("not an HMAC token")
		}
		return a.secret, nil
	})
	if err != nil {
		return store.Identity{}, unauthenticated(describeJWTError(tok, err))
	}
	if strings.TrimSpace(claims.Subject) == "" {
		return store.Identity{}, unauthenticated("token has no sub claim (the user's sync id)")
	}
	linked, err := parseLinked(claims.Linked)
	if err != nil {
		return store.Identity{}, unauthenticated(err.Error())
	}
	return store.Identity{SyncID: claims.Subject, Linked: linked}, nil
}

func unauthenticated(msg string) error {
	return fmt.Errorf("%w: %s", server.ErrUnauthenticated, msg)
}

// describeJWTError says what is wrong with a token the parser refused,
// without quoting the token.
func describeJWTError(tok *jwt.Token, err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token (want a JWT: three base64url parts separated by dots)"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Sprintf("token signed with unsupported algorithm %s; only %s is accepted", tokenAlg(tok), jwtAlg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if tok != nil && tok.Method != nil && tok.Method.Alg() != jwtAlg {
			return fmt.Sprintf("token signed with %s; only %s is accepted", tokenAlg(tok), jwtAlg)
		}
		return "token signature is invalid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		var claims []string
		for _, c := range []string{"exp", "iss", "aud"} {
			if strings.Contains(err.Error(), c+" claim is required") {
				claims = append(claims, c)
			}
		}
		if len(claims) == 0 {
			return "token lacks a required claim"
		}
		return "token has no " + strings.Join(claims, ", ") + " claim"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet (nbf is in the future)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "token issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "token has the wrong issuer (iss)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "token is not for this audience (aud)"
	case errors.Is(err, jwt.ErrInvalidType):
		return "token has a claim of the wrong type"
	}
	return "invalid token"
}

// tokenAlg returns the alg of a token's header for an error message,
// quoted and cut short.
func tokenAlg(tok *jwt.Token) string {
	if tok == nil {
		return "(unknown)"
	}
	alg, ok := tok.Header["alg"].(string)
	if !ok || alg == "" {
		return "(none given)"
	}
	if len(alg) > 16 {
		alg = alg[:16] + "..."
	}
	return fmt.Sprintf("%q", alg)
}

// parseLinked checks and decodes the linked claim: absent or null means
// none; otherwise an array of non-empty strings.
func parseLinked(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var items []any
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errors.New("malformed linked claim: want a JSON array of sync ids")
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		s, ok := it.(string)
		if !ok {
			return nil, fmt.Errorf("malformed linked claim: element %d is not a string", i)
		}
		if strings.TrimSpace(s) == "" {
			return nil, fmt.Errorf("malformed linked claim: element %d is empty", i)
		}
		out = append(out, s)
	}
	return out, nil
}

// Mint returns an HS256 token that New(secret) accepts for
// syncID, linked to the given users, valid for ttl from now. It is meant for
// development tools and tests; production tokens usually come from an
// identity provider sharing the secret. It refuses an empty syncID or
// linked id, a ttl that is not positive and a secret shorter than
// MinSecretBytes.
func Mint(secret []byte, syncID string, linked []string, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("ssync jwtauth: Mint: secret is %d bytes; it must be at least %d", len(secret), MinSecretBytes)
	}
	if strings.TrimSpace(syncID) == "" {
		return "", errors.New("ssync jwtauth: Mint: empty sync id")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ssync jwtauth: Mint: ttl %v is not positive", ttl)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": syncID,
		"iat": jwt.NewNumericDate(now),
		"exp": jwt.NewNumericDate(now.Add(ttl)),
	}
	if len(linked) > 0 {
		for i, l := range linked {
			if strings.TrimSpace(l) == "" {
				return "", fmt.Errorf("ssync jwtauth: Mint: linked id %d is empty", i)
			}
		}
		claims[LinkedClaim] = linked
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("ssync jwtauth: Mint: %w", err)
	}
	return s, nil
}
