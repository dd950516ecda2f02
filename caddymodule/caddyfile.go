package caddymodule

import (
	"encoding/json"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("s3_cors", parseCaddyfileHandler)
	// After try_files: path rewrites apply first, and preflights are
	// answered before any authentication directive, respond or
	// reverse_proxy runs.
	httpcaddyfile.RegisterDirectiveOrder("s3_cors", httpcaddyfile.After, "try_files")
	httpcaddyfile.RegisterGlobalOption("s3_cors", parseGlobalOption)
}

func parseCaddyfileHandler(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	s3_cors [<matcher>] {
//		credentials <access_key> <secret_key> {
//			buckets <bucket...>
//		}
//		owner_id <account_id>
//		region <region>
//		virtual_host_suffix <host...>
//		upstream <url> {
//			credentials <access_key> <secret_key>
//			region <region>
//			cache_ttl <duration>
//		}
//		insecure_unauthenticated_api
//		default_cors <file>
//		always_vary
//	}
//
// credentials and virtual_host_suffix may be repeated; every other option
// may be given once. The block of credentials is optional; without it the
// key may change every bucket.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := onceOptions{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "credentials":
			var c Credential
			if !d.Args(&c.AccessKeyID, &c.SecretAccessKey) || d.NextArg() {
				return d.Errf("credentials takes an access key and a secret key")
			}
			for n := d.Nesting(); d.NextBlock(n); {
				switch d.Val() {
				case "buckets":
					args := d.RemainingArgs()
					if len(args) == 0 {
						return d.ArgErr()
					}
					c.Buckets = append(c.Buckets, args...)
				default:
					return d.Errf("unknown credentials option %q", d.Val())
				}
			}
			h.Credentials = append(h.Credentials, c)

		case "owner_id":
			if err := seen.stringArg(d, &h.OwnerID); err != nil {
				return err
			}

		case "region":
			if err := seen.stringArg(d, &h.Region); err != nil {
				return err
			}

		case "virtual_host_suffix":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.VirtualHostSuffixes = append(h.VirtualHostSuffixes, args...)

		case "upstream":
			u := new(Upstream)
			if err := seen.stringArg(d, &u.Endpoint); err != nil {
				return err
			}
			upstreamSeen := onceOptions{}
			for n := d.Nesting(); d.NextBlock(n); {
				switch d.Val() {
				case "credentials":
					if err := upstreamSeen.check(d); err != nil {
						return err
					}
					if !d.Args(&u.AccessKeyID, &u.SecretAccessKey) || d.NextArg() {
						return d.Errf("credentials takes an access key and a secret key")
					}
				case "region":
					if err := upstreamSeen.stringArg(d, &u.Region); err != nil {
						return err
					}
				case "cache_ttl":
					if err := upstreamSeen.durationArg(d, &u.CacheTTL); err != nil {
						return err
					}
				default:
					return d.Errf("unknown upstream option %q", d.Val())
				}
			}
			h.Upstream = u

		case "insecure_unauthenticated_api":
			if err := seen.flag(d, &h.InsecureUnauthenticatedAPI); err != nil {
				return err
			}

		case "default_cors":
			if err := seen.stringArg(d, &h.DefaultCORSFile); err != nil {
				return err
			}

		case "always_vary":
			if err := seen.flag(d, &h.AlwaysVary); err != nil {
				return err
			}

		default:
			return d.Errf("unknown s3_cors option %q", d.Val())
		}
	}
	return nil
}

// parseGlobalOption sets up the s3_cors app from the global option block:
//
//	{
//		s3_cors {
//			key_prefix <prefix>
//			sync_interval <duration>
//			storage <module> {
//				...
//			}
//			bucket_storage <endpoint> <bucket> {
//				credentials <access_key_id> <secret_access_key>
//				region <region>
//				prefix <prefix>
//			}
//		}
//	}
//
// storage and bucket_storage are alternatives.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	var app App
	if existing != nil {
		raw, ok := existing.(httpcaddyfile.App)
		if !ok {
			return nil, d.Errf("unexpected value for the s3_cors global option: %T", existing)
		}
		if err := json.Unmarshal(raw.Value, &app); err != nil {
			return nil, err
		}
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "s3_cors", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the tokens of the s3_cors global
// option; see parseGlobalOption for the syntax. Each option may be given
// once, also across several s3_cors blocks.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := onceOptions{
		"key_prefix":     a.KeyPrefix != "",
		"sync_interval":  a.SyncInterval != 0,
		"storage":        a.StorageRaw != nil,
		"bucket_storage": a.BucketStorage != nil,
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "key_prefix":
			if err := seen.stringArg(d, &a.KeyPrefix); err != nil {
				return err
			}
		case "sync_interval":
			if err := seen.durationArg(d, &a.SyncInterval); err != nil {
				return err
			}
		case "storage":
			if err := seen.check(d); err != nil {
				return err
			}
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			modID := "caddy.storage." + name
			unm, err := caddyfile.UnmarshalModule(d, modID)
			if err != nil {
				return err
			}
			if _, ok := unm.(caddy.StorageConverter); !ok {
				return d.Errf("module %s is not a storage module", modID)
			}
			a.StorageRaw = caddyconfig.JSONModuleObject(unm, "module", name, nil)
		case "bucket_storage":
			if err := seen.check(d); err != nil {
				return err
			}
			bs, err := parseBucketStorage(d)
			if err != nil {
				return err
			}
			a.BucketStorage = bs
		default:
			return d.Errf("unknown s3_cors global option %q", d.Val())
		}
	}
	return nil
}

// onceOptions are the options of one block that may be given only once.
// A second one is refused, as Caddy's own directives do, rather than
// silently replacing the first.
type onceOptions map[string]bool

// check refuses the option under the cursor if the block already gave it.
func (o onceOptions) check(d *caddyfile.Dispenser) error {
	name := d.Val()
	if o[name] {
		return d.Errf("%s is already set", name)
	}
	o[name] = true
	return nil
}

// stringArg reads the option under the cursor, given once with exactly one
// argument, into dst.
func (o onceOptions) stringArg(d *caddyfile.Dispenser, dst *string) error {
	if err := o.check(d); err != nil {
		return err
	}
	return singleArg(d, dst)
}

// flag reads the option under the cursor, given once without arguments,
// as true into dst.
func (o onceOptions) flag(d *caddyfile.Dispenser, dst *bool) error {
	if err := o.check(d); err != nil {
		return err
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	*dst = true
	return nil
}

// durationArg reads the option under the cursor, given once with exactly
// one duration, into dst.
func (o onceOptions) durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	name := d.Val()
	if err := o.check(d); err != nil {
		return err
	}
	var s string
	if err := singleArg(d, &s); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("%s: %v", name, err)
	}
	*dst = caddy.Duration(dur)
	return nil
}

// singleArg reads exactly one argument into dst.
func singleArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards.
var (
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
