package contract

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The incentive pool is kept in grant shards. A registration draws its grant from, and counts itself in, the
// one shard its name hashes to, so registrations whose names fall in different shards touch no common key and
// commit in the same block. With one shard the schedule is exact: the grant halves every grantHalvingEvery
// registrations. With S shards each halves every grantHalvingEvery/S of its own registrations: the same
// schedule overall, give or take how evenly the names spread.

const maxGrantShards = 64

func (cfg *config) shards() int64 { return max(cfg.GrantShards, 1) }

// shardOf is the grant shard of a user name.
func shardOf(cfg *config, name string) int64 {
	if cfg.shards() == 1 {
		return 0
	}
	sum := sha256.Sum256([]byte(name))
	return int64(binary.BigEndian.Uint64(sum[:8]) % uint64(cfg.shards()))
}

// shardKey is the key of a shard; a single shard keeps the pool's original key.
func shardKey(cfg *config, shard int64) []string {
	if cfg.shards() == 1 {
		return nil
	}
	return []string{fmt.Sprintf("%02d", shard)}
}

func (t *txn) loadShard(cfg *config, shard int64) (pool, error) {
	var p pool
	if _, err := t.get(&p, nsPool, shardKey(cfg, shard)...); err != nil {
		return pool{}, err
	}
	return p, nil
}

func (t *txn) putShard(cfg *config, shard int64, p pool) error {
	return t.put(p, nsPool, shardKey(cfg, shard)...)
}

func (t *txn) loadShards(cfg *config) ([]pool, error) {
	shards := make([]pool, cfg.shards())
	for i := range shards {
		var err error
		if shards[i], err = t.loadShard(cfg, int64(i)); err != nil {
			return nil, err
		}
	}
	return shards, nil
}

// wholePool sums the shards; next is the largest grant one of them would give now.
func wholePool(cfg *config, shards []pool) (whole pool, next int64, err error) {
	for _, p := range shards {
		if whole.Balance, err = addChecked(whole.Balance, p.Balance); err != nil {
			return pool{}, 0, err
		}
		if whole.Registrations, err = addChecked(whole.Registrations, p.Registrations); err != nil {
			return pool{}, 0, err
		}
		next = max(next, grantFor(cfg, p))
	}
	return whole, next, nil
}

// fillPool puts the genesis pool into the shards, an equal part each and the remainder in shard 0, and
// returns them.
func (t *txn) fillPool(cfg *config, balance int64) ([]pool, error) {
	shards := make([]pool, cfg.shards())
	part := balance / cfg.shards()
	for i := range shards {
		shards[i].Balance = part
		if i == 0 {
			shards[i].Balance += balance - part*cfg.shards()
		}
		if err := t.putShard(cfg, int64(i), shards[i]); err != nil {
			return nil, err
		}
	}
	return shards, nil
}

// grantFor is the SToken a new user of a shard receives: the initial grant halved every
// grantHalvingEvery/shards of the shard's registrations, never below 1 while the shard lasts, never more than
// it holds.
func grantFor(cfg *config, p pool) int64 {
	if cfg.InitialGrant <= 0 || p.Balance <= 0 {
		return 0
	}
	g := cfg.InitialGrant
	if cfg.GrantHalvingEvery > 0 {
		halvings := p.Registrations / cfg.GrantHalvingEvery
		if cfg.shards() > 1 {
			halvings = mulOrMax(p.Registrations, cfg.shards()) / cfg.GrantHalvingEvery
		}
		if halvings >= 63 {
			g = 0
		} else {
			g >>= uint(halvings)
		}
	}
	g = max(g, 1)
	return min(g, p.Balance)
}

func mulOrMax(a, b int64) int64 {
	if v, err := mulChecked(a, b); err == nil {
		return v
	}
	return 1<<63 - 1
}
