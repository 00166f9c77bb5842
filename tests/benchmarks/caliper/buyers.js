'use strict';

/**
 * The buyers one Caliper worker acts as. Workers split the buyers between them (buyer i goes to worker
 * i mod workers), so no two workers ever sign as the same user.
 *
 * A user's purchase reads and writes its own rights and balance: a second purchase by the same buyer endorsed
 * before the first commits fails validation (MVCC_READ_CONFLICT). take() therefore hands out the buyer with the
 * fewest transactions in flight, in turn; a conflict is left to happen only when every buyer is busy, and Caliper
 * counts it as the failure it is.
 */
class BuyerPool {
    /**
     * @param {{name: string, mspId: string}[]} buyers every buyer of the benchmark
     * @param {number} workerIndex this worker's index
     * @param {number} totalWorkers how many workers share the buyers
     */
    constructor(buyers, workerIndex, totalWorkers) {
        if (!Array.isArray(buyers)) {
            throw new Error('the round\'s arguments name no buyers (a list of {name, mspId})');
        }
        this.buyers = buyers.filter((_, i) => i % totalWorkers === workerIndex);
        if (this.buyers.length === 0) {
            throw new Error(`worker ${workerIndex} of ${totalWorkers} has no buyer: give at least ${totalWorkers}`);
        }
        this.inFlight = new Map(this.buyers.map(b => [b.name, 0]));
        this.next = 0;
    }

    /** @return {{name: string, mspId: string}} the buyer to act as; give it back with release() */
    take() {
        let chosen = this.next;
        for (let k = 0; k < this.buyers.length; k++) {
            const i = (this.next + k) % this.buyers.length;
            if (this.inFlight.get(this.buyers[i].name) === 0) {
                chosen = i;
                break;
            }
        }
        this.next = (chosen + 1) % this.buyers.length;
        const buyer = this.buyers[chosen];
        this.inFlight.set(buyer.name, this.inFlight.get(buyer.name) + 1);
        return buyer;
    }

    /** @param {{name: string}} buyer a buyer take() returned, whose transaction has finished */
    release(buyer) {
        this.inFlight.set(buyer.name, this.inFlight.get(buyer.name) - 1);
    }
}

module.exports = { BuyerPool };
