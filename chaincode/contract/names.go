package contract

// nameClaim records which name took a look, so that no later name of that kind can look like it.
type nameClaim struct {
	Name string `json:"name"`
}

// claimName reserves how a new name looks; a name that reads like an existing one is ALREADY_EXISTS. Claims
// outlive their names, as names do.
func (t *txn) claimName(kind, name string) error {
	taken := looks(name)
	for _, look := range taken {
		var claim nameClaim
		found, err := t.get(&claim, nsSkeleton, kind, look)
		if err != nil {
			return err
		}
		if found {
			return alreadyExists("%s name %q looks like the existing %s %q", kind, name, kind, claim.Name)
		}
	}
	for _, look := range taken {
		if err := t.put(nameClaim{Name: name}, nsSkeleton, kind, look); err != nil {
			return err
		}
	}
	return nil
}
