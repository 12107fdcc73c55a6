// Independent peer: the partition the Java client's default partitioner
// picks for a keyed record (kafka-clients BuiltInPartitioner /
// DefaultPartitioner: toPositive(murmur2(keyBytes)) % numPartitions),
// computed with org.apache.kafka.common.utils.Utils from the broker's jars.
// Usage: java -cp "<kafka libs>/*" Murmur.java NUM_PARTITIONS < keys
// Prints "key<TAB>partition" per input line.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.utils.Utils;

public class Murmur {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        BufferedReader in = new BufferedReader(
            new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String key;
        while ((key = in.readLine()) != null) {
            byte[] b = key.getBytes(StandardCharsets.UTF_8);
            System.out.println(key + "\t" + (Utils.toPositive(Utils.murmur2(b)) % n));
        }
    }
}
