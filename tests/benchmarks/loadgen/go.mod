module tdses/loadgen

go 1.24
