package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseURL returns the Config a store URL describes:
//
//	s3://bucket[/prefix][?endpoint=http://127.0.0.1:7070][&region=eu-west-1]
//
// The path is the key prefix; endpoint (an S3-compatible server, addressed
// path-style) and region are Config's. Credentials never come from the
// URL, which a command line shows to every local user: New takes them from
// the environment, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the
// rest of the AWS SDK's default chain). Unknown query parameters are an
// error.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("blob/s3: %w", err)
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("blob/s3: %q is not an s3://bucket/prefix URL", raw)
	}
	if u.User != nil {
		return Config{}, errors.New("blob/s3: credentials do not go in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if u.Host == "" {
		return Config{}, fmt.Errorf("blob/s3: %q names no bucket (s3://bucket/prefix)", raw)
	}
	cfg := Config{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	for k, v := range u.Query() {
		if len(v) != 1 {
			return Config{}, fmt.Errorf("blob/s3: %s is given %d times", k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return Config{}, fmt.Errorf("blob/s3: endpoint %q is not an http:// or https:// URL", v[0])
			}
			cfg.Endpoint = v[0]
		case "region":
			cfg.Region = v[0]
		default:
			return Config{}, fmt.Errorf("blob/s3: unknown parameter %q in %q (known: endpoint, region)", k, raw)
		}
	}
	return cfg, nil
}
