import { strict as assert } from 'node:assert';
import { RowBlockBuilder, activeFields, emptyBlock, rowsView, sliceRows } from '../../ranking/data/rows';

describe('row blocks', () => {
  it('activeFields: a field with one value in the last row is active, an always-empty one is not', () => {
    const rows = 1000;
    const block = emptyBlock(rows, { dense: 4, categorical: 5 });
    block.dense.fill(NaN);
    for (let r = 0; r < rows; r++) {
      block.categorical[r * 5 + 1] = 7; // every row
      block.dense[r * 4] = r; // every row
    }
    block.categorical[(rows - 1) * 5 + 4] = 3; // the last row only
    block.dense[(rows - 1) * 4 + 2] = -0; // a value (−0 is not missing), the last row only
    assert.deepEqual(activeFields(block), { categorical: [1, 4], dense: [0, 2] });
    assert.deepEqual(activeFields(emptyBlock(0, { dense: 2, categorical: 2 })), { categorical: [], dense: [] });
  });

  it('rowsView: the rows sliceRows copies, as views of disjoint ranges', () => {
    const block = emptyBlock(10, { dense: 2, categorical: 3 }, true);
    block.dense.forEach((_, i) => (block.dense[i] = i));
    block.categorical.forEach((_, i) => (block.categorical[i] = 100 + i));
    block.labels.forEach((_, i) => (block.labels[i] = i % 2));
    block.weights!.forEach((_, i) => (block.weights![i] = i / 2));
    const head = rowsView(block, 0, 7);
    const tail = rowsView(block, 7, 10);
    for (const [view, start, end] of [
      [head, 0, 7],
      [tail, 7, 10],
    ] as const) {
      const copy = sliceRows(block, start, end);
      assert.equal(view.rows, copy.rows);
      assert.deepEqual([...view.dense], [...copy.dense]);
      assert.deepEqual([...view.categorical], [...copy.categorical]);
      assert.deepEqual([...view.labels], [...copy.labels]);
      assert.deepEqual([...view.weights!], [...copy.weights!]);
    }
    tail.categorical[0] = 1;
    assert.equal(block.categorical[7 * 3], 1, 'a view, not a copy');
    assert.deepEqual([...head.categorical].slice(-1), [100 + 7 * 3 - 1], 'the head does not reach into the tail');
  });

  it('RowBlockBuilder.finish hands a full builder’s arrays over and trims a partial one', () => {
    const full = new RowBlockBuilder(4);
    for (let r = 0; r < 4; r++) full.setCategorical(full.appendRow(r % 2), 2, r + 1);
    const storage = full.categorical;
    const built = full.finish();
    assert.equal(built.categorical, storage, 'no copy of a full chunk');
    assert.deepEqual([...built.labels], [0, 1, 0, 1]);
    const partial = new RowBlockBuilder(4);
    partial.setDense(partial.appendRow(1), 0, 2.5);
    const trimmed = partial.finish();
    assert.equal(trimmed.rows, 1);
    assert.equal(trimmed.dense.length, 13);
    assert.equal(trimmed.categorical.length, 26);
    assert.equal(trimmed.dense[0], 2.5);
  });
});
