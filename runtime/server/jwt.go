package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinJWTSecretBytes is the shortest HS256 secret NewJWTAuth and MintJWT
// accept: 32 bytes, the size of the HMAC-SHA256 output. Generate one with
// e.g. `openssl rand -hex 32`.
const MinJWTSecretBytes = 32

// jwtAlg is the only signing algorithm accepted.
const jwtAlg = "HS256"

// JWTLinkedClaim is the name of the claim that lists the sync ids of the
// users a token's subject is linked to.
const JWTLinkedClaim = "linked"

// JWTOption configures the authenticator NewJWTAuth returns.
type JWTOption func(*jwtConfig)

type jwtConfig struct {
	leeway   time.Duration
	issuer   string
	audience string
}

// WithJWTLeeway accepts tokens up to d past their expiry (and d before
// their nbf or iat), to absorb clock skew between the token issuer and the
// server. The default is no leeway.
func WithJWTLeeway(d time.Duration) JWTOption {
	return func(c *jwtConfig) { c.leeway = d }
}

// WithJWTIssuer requires the iss claim to equal iss.
func WithJWTIssuer(iss string) JWTOption {
	return func(c *jwtConfig) { c.issuer = iss }
}

// WithJWTAudience requires the aud claim to contain aud.
func WithJWTAudience(aud string) JWTOption {
	return func(c *jwtConfig) { c.audience = aud }
}

// jwtClaims are the claims a sync token carries: the registered ones (sub
// is the sync id, exp is required) and the linked users. linked is kept raw
// so that a malformed one is reported as such, not as a malformed token.
type jwtClaims struct {
	jwt.RegisteredClaims
	Linked json.RawMessage `json:"linked,omitempty"`
}

// jwtAuth is the Authenticator NewJWTAuth returns.
type jwtAuth struct {
	secret []byte
	parser *jwt.Parser
}

// NewJWTAuth returns an Authenticator that takes the identity from an HS256
// JSON Web Token in the request's "Authorization: Bearer <token>" header:
//
//   - the signature must verify with secret, and the header's alg must be
//     HS256 (none, HS384/HS512 and asymmetric algorithms are refused);
//   - the token must carry an exp claim and not be expired (see
//     WithJWTLeeway), and nbf/iat, when present, must not be in the future;
//   - sub is the user's sync id and must be a non-empty string;
//   - linked, when present, must be a JSON array of non-empty strings: the
//     sync ids of the users whose rows the subject may also read and write;
//   - with WithJWTIssuer and WithJWTAudience, iss and aud must match.
//
// Every refusal wraps ErrUnauthenticated (the server answers 401) and says
// what is wrong without repeating the token. NewJWTAuth refuses secrets
// shorter than MinJWTSecretBytes. MintJWT makes tokens it accepts.
func NewJWTAuth(secret []byte, opts ...JWTOption) (Authenticator, error) {
	if len(secret) < MinJWTSecretBytes {
		return nil, fmt.Errorf("ssync server: JWT secret is %d bytes; it must be at least %d random bytes", len(secret), MinJWTSecretBytes)
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

// Authenticate implements Authenticator.
func (a *jwtAuth) Authenticate(r *http.Request) (Identity, error) {
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		return Identity{}, unauthenticated("missing Authorization header (want \"Authorization: Bearer <token>\")")
	}
	scheme, raw, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return Identity{}, unauthenticated("Authorization header is not a Bearer token")
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return Identity{}, unauthenticated("empty Bearer token")
	}
	var claims jwtClaims
	tok, err := a.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, errors.New("not an HMAC token")
		}
		return a.secret, nil
	})
	if err != nil {
		return Identity{}, unauthenticated(describeJWTError(tok, err))
	}
	if strings.TrimSpace(claims.Subject) == "" {
		return Identity{}, unauthenticated("token has no sub claim (the user's sync id)")
	}
	linked, err := parseLinked(claims.Linked)
	if err != nil {
		return Identity{}, unauthenticated(err.Error())
	}
	return Identity{SyncID: claims.Subject, Linked: linked}, nil
}

func unauthenticated(msg string) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, msg)
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

// MintJWT returns an HS256 token that NewJWTAuth(secret) accepts for
// syncID, linked to the given users, valid for ttl from now. It is meant for
// development tools and tests; production tokens usually come from an
// identity provider sharing the secret. It refuses an empty syncID or
// linked id, a ttl that is not positive and a secret shorter than
// MinJWTSecretBytes.
func MintJWT(secret []byte, syncID string, linked []string, ttl time.Duration) (string, error) {
	if len(secret) < MinJWTSecretBytes {
		return "", fmt.Errorf("ssync server: MintJWT: secret is %d bytes; it must be at least %d", len(secret), MinJWTSecretBytes)
	}
	if strings.TrimSpace(syncID) == "" {
		return "", errors.New("ssync server: MintJWT: empty sync id")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("ssync server: MintJWT: ttl %v is not positive", ttl)
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
				return "", fmt.Errorf("ssync server: MintJWT: linked id %d is empty", i)
			}
		}
		claims[JWTLinkedClaim] = linked
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("ssync server: MintJWT: %w", err)
	}
	return s, nil
}
