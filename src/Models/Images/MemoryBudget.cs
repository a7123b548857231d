namespace GpuViT.Models.Images;

/// <summary>
/// Bytes that threads reserve before they allocate and give back after: a reservation waits
/// while the others hold too much. One larger than the whole budget waits until nothing else is
/// held and then runs alone, so the memory held is at most the budget or the one largest
/// reservation. Reservations are never nested, so no thread waits while it holds bytes.
/// </summary>
public sealed class MemoryBudget(long capacityBytes)
{
    private readonly object _lock = new(); // Monitor.Wait needs a plain object, not a Lock
    private long _held;

    public long CapacityBytes { get; } = capacityBytes > 0 ? capacityBytes : throw new ArgumentOutOfRangeException(nameof(capacityBytes));

    /// <summary>Bytes reserved now.</summary>
    public long HeldBytes
    {
        get { lock (_lock) return _held; }
    }

    /// <summary>Waits until <paramref name="bytes"/> fit, then holds them until the reservation is disposed.</summary>
    public Reservation Reserve(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long held = Math.Min(bytes, CapacityBytes);
        lock (_lock)
        {
            while (_held + held > CapacityBytes)
                Monitor.Wait(_lock);
            _held += held;
        }

        return new Reservation(this, held);
    }

    private void Release(long bytes)
    {
        lock (_lock)
        {
            _held -= bytes;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Bytes held from a <see cref="MemoryBudget"/> until disposed.</summary>
    public sealed class Reservation : IDisposable
    {
        private readonly long _bytes;
        private MemoryBudget? _budget;

        /// <summary>Made only by <see cref="Reserve"/>: a reservation made elsewhere would release bytes never held.</summary>
        internal Reservation(MemoryBudget budget, long bytes) => (_budget, _bytes) = (budget, bytes);

        public void Dispose() => Interlocked.Exchange(ref _budget, null)?.Release(_bytes);
    }
}
