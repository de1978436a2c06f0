# A stateful server process: a key-value store in the style of seed 004's
# DatabaseServer (start/0 spawns the loop; interface functions hide the
# messages; a synchronous request waits with `receive ... after`). The seed
# leaves "Keeping a process state" as a todo; this module is ours, and
# kv_server.cpp is its port, line for line.
defmodule KeyValueStore do
  def start do
    spawn(fn -> loop(%{}) end)
  end

  defp loop(state) do
    new_state =
      receive do
        {:put, key, value} ->
          Map.put(state, key, value)

        {:get, caller, key} ->
          send(caller, {:response, Map.get(state, key)})
          state

        {:busy, ms} ->
          # simulate a long-running operation
          Process.sleep(ms)
          state
      end

    loop(new_state)
  end

  # cast: asynchronous, fire and forget
  def put(server_pid, key, value) do
    send(server_pid, {:put, key, value})
  end

  def busy(server_pid, ms) do
    send(server_pid, {:busy, ms})
  end

  # call: synchronous, with a timeout
  def get(server_pid, key, timeout \\ 5000) do
    send(server_pid, {:get, self(), key})

    receive do
      {:response, value} -> value
    after
      timeout -> {:error, :timeout}
    end
  end
end

pid = KeyValueStore.start()
KeyValueStore.put(pid, :rose, "red")
KeyValueStore.put(pid, :violet, "blue")
IO.inspect(KeyValueStore.get(pid, :rose))    # "red"
IO.inspect(KeyValueStore.get(pid, :tulip))   # nil
KeyValueStore.busy(pid, 2000)
IO.inspect(KeyValueStore.get(pid, :violet, 500))  # {:error, :timeout}
IO.inspect(KeyValueStore.get(pid, :violet))  # "blue"

# 100 clients, each puts its own key and reads it back.
1..100
|> Enum.map(fn i -> Task.async(fn ->
     KeyValueStore.put(pid, i, i * i)
     KeyValueStore.get(pid, i) == i * i
   end) end)
|> Enum.map(&Task.await/1)
|> Enum.all?()
|> IO.inspect()   # true
