/*
 * One local OpenSearch node for development and the tests, run from the jars that
 * pom.xml copies (no distribution, no install step). A source-file program:
 *
 *   java -Dlog4j2.configurationFile=log4j2.properties -cp 'LIB/*' OpenSearchNode.java \
 *        HOME [setting=value ...]
 *
 * HOME holds config/, data/ and logs/ (created if missing; a second run with the same HOME
 * keeps the data). Each setting=value overrides one of the defaults below, e.g.
 * http.port=9200 transport.port=9300. The node loads the modules the search view needs as
 * classpath plugins (see PLUGINS), has no security plugin, listens on 127.0.0.1 only, and
 * stops cleanly on SIGTERM or Ctrl-C: a shutdown hook closes it. Logs go to stdout.
 * infra/localcluster/opensearch.py builds this command line.
 */

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.plugins.Plugin;

public class OpenSearchNode {

    /** Modules of the distribution, as classpath plugins (their jars are on the classpath). */
    static final List<String> PLUGINS = List.of(
            "org.opensearch.transport.Netty4Plugin",             // transport-netty4-client: HTTP
            "org.opensearch.analysis.common.CommonAnalysisPlugin", // analysis-common
            "org.opensearch.index.mapper.MapperExtrasPlugin");      // mapper-extras-client

    /** The Node constructor that takes classpath plugins is protected. */
    static final class LocalNode extends Node {
        LocalNode(Environment environment, Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(String[] args) throws Exception {
        // Our hook stops log4j after the node has closed, so the close is logged too.
        System.setProperty("log4j.shutdownHookEnabled", "false");
        System.setProperty("log4j2.disable.jmx", "true");
        if (args.length < 1) {
            System.err.println("usage: java -cp 'LIB/*' OpenSearchNode.java HOME [setting=value ...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("cluster.name", "photoshare-local");
        settings.put("node.name", "local");
        settings.put("discovery.type", "single-node");
        settings.put("network.host", "127.0.0.1");
        settings.put("http.port", "9200");
        settings.put("transport.port", "9300");
        settings.put("path.home", home.toString());
        settings.put("path.data", home.resolve("data").toString());
        settings.put("path.logs", home.resolve("logs").toString());
        // A dev machine's disk may be fuller than the default watermarks allow.
        settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
        for (int i = 1; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not a setting=value: " + args[i]);
                System.exit(2);
            }
            settings.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }

        Logger logger = LogManager.getLogger(OpenSearchNode.class);
        Node node;
        try {
            Settings.Builder builder = Settings.builder();
            settings.forEach(builder::put);
            Path config = home.resolve("config");
            for (String key : List.of("path.data", "path.logs")) {
                Files.createDirectories(Path.of(settings.get(key)));
            }
            Files.createDirectories(config);
            Files.createDirectories(home.resolve("plugins"));
            Files.createDirectories(home.resolve("modules"));
            Environment environment = InternalSettingsPreparer.prepareEnvironment(
                    builder.build(), Map.of(), config, () -> settings.get("node.name"));
            List<Class<? extends Plugin>> plugins = new ArrayList<>();
            for (String name : PLUGINS) {
                plugins.add(Class.forName(name).asSubclass(Plugin.class));
            }
            node = new LocalNode(environment, plugins);
        } catch (Throwable error) {
            logger.fatal("could not create the node", error);
            LogManager.shutdown();
            System.exit(1);
            return;
        }

        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                logger.info("stopping");
                node.close();
                if (!node.awaitClose(15, TimeUnit.SECONDS)) {
                    logger.warn("the node did not close within 15 s");
                }
                logger.info("stopped");
            } catch (Throwable error) {
                logger.error("error while stopping the node", error);
            } finally {
                closed.countDown();
                LogManager.shutdown();
            }
        }, "opensearch-node-shutdown"));

        try {
            node.start();
        } catch (Throwable error) {
            logger.fatal("could not start the node", error);
            System.exit(1);  // runs the hook, which closes what did start
        }
        logger.info("started: OpenSearch {} on http://{}:{}",
                org.opensearch.Version.CURRENT, settings.get("network.host"),
                settings.get("http.port"));
        closed.await();  // keeps the JVM up until the hook has closed the node
    }
}
