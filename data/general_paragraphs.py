"""Paragraphs of general, encyclopedic-style English written for this project.

Each entry is (topic, paragraph). The paragraphs were written by hand for `data/general/text.jsonl`
(general-text perplexity); they are not generated from templates and not copied from any source.
"""

PARAGRAPHS: list[tuple[str, str]] = [
    # --- nature -----------------------------------------------------------------------------
    ("nature", (
        "Forests cover roughly a third of the land on Earth. They are home to a large share of the "
        "world's land plants and animals, from tiny insects living in the soil to large mammals such "
        "as bears and deer. Trees take in carbon dioxide from the air and store the carbon in their "
        "wood, roots and leaves, which is one reason forests matter for the climate. They also hold "
        "soil in place, slow the flow of rainwater and provide timber, fruit, nuts and medicine. In "
        "many regions, forests are cleared for farming, roads and towns."
    )),
    ("nature", (
        "A river begins at its source, which may be a spring, a lake or melting snow high in the "
        "mountains. As it flows downhill, smaller streams called tributaries join it and add more "
        "water. Over thousands of years, a river can carve deep valleys and canyons by wearing away "
        "rock and carrying sand and gravel downstream. Near the sea, the water slows and drops much "
        "of this material, sometimes building a wide, flat delta. Rivers have always been important "
        "to people, supplying water for drinking and farming, routes for trade and travel, and power "
        "for mills."
    )),
    ("nature", (
        "Coral reefs are built by small animals called coral polyps, which live in large colonies in "
        "warm, shallow seas. Each polyp produces a hard skeleton of calcium carbonate, and over many "
        "generations these skeletons pile up to form a reef. Many corals get most of their food from "
        "tiny algae that live inside their tissues and make sugars using sunlight. Reefs cover only a "
        "small part of the ocean floor, yet they shelter an enormous variety of fish, crabs, sponges "
        "and other creatures. When the water becomes too warm, corals can lose their algae and turn "
        "white, a process known as bleaching."
    )),
    ("nature", (
        "A desert is a region that receives very little rain, usually less than about 250 "
        "millimetres in a year. Not all deserts are hot; Antarctica and parts of Central Asia are "
        "deserts too, because the air there is extremely dry. In hot deserts, temperatures can rise "
        "sharply during the day and fall quickly at night, since dry air and clear skies let heat "
        "escape. Plants such as cacti store water in thick stems, while many animals stay "
        "underground during the hottest hours and come out to feed after sunset. Sand dunes are "
        "famous, but most deserts are covered by rock and gravel."
    )),
    ("nature", (
        "In autumn, the leaves of many trees turn yellow, orange and red before they fall. During "
        "spring and summer, leaves are green because they contain large amounts of chlorophyll, the "
        "pigment that plants use to capture sunlight. As the days grow shorter and cooler, trees "
        "stop making chlorophyll and slowly break it down. This reveals yellow and orange pigments "
        "that were present in the leaf all along, while some trees also produce new red pigments. "
        "Dropping their leaves helps trees save water and energy through the winter, when the "
        "ground may be frozen and sunlight is weak."
    )),
    ("nature", (
        "Most of the world's great mountain ranges formed where large plates of the Earth's crust "
        "push against each other. The Himalayas, for example, began to rise when the Indian plate "
        "collided with the Eurasian plate about fifty million years ago, and they are still growing "
        "slowly today. Other mountains are volcanoes, built up layer by layer from lava and ash. As "
        "soon as mountains form, wind, rain, ice and rivers begin to wear them down. For this "
        "reason, very old ranges, such as the Appalachians in North America, tend to have lower, "
        "more rounded peaks than younger ones."
    )),
    ("nature", (
        "Wetlands are areas where the ground is covered by shallow water or stays soaked for much of "
        "the year. Marshes, swamps and bogs are all types of wetland. These places act like natural "
        "sponges, soaking up water during heavy rain and releasing it slowly, which can reduce "
        "flooding further downstream. Their plants and soils also filter out mud and some "
        "pollutants, helping to keep rivers and lakes clean. Wetlands provide food and shelter for "
        "many birds, frogs, fish and insects, and they are important resting places for migrating "
        "birds on their long journeys."
    )),
    ("nature", (
        "Soil is a thin layer on the surface of the land, yet almost all the food we grow depends on "
        "it. It is a mixture of tiny pieces of rock, decaying plant and animal matter, water and "
        "air. A single handful of healthy soil contains millions of living organisms, including "
        "bacteria, fungi and earthworms. These organisms break down dead leaves and other material, "
        "releasing nutrients that plants can take up through their roots. Soil forms very slowly, "
        "often taking hundreds of years to build up just a few centimetres, which is why farmers try "
        "hard to protect it from being washed or blown away."
    )),
    # --- geography --------------------------------------------------------------------------
    ("geography", (
        "There are five oceans on Earth: the Pacific, Atlantic, Indian, Southern and Arctic. "
        "Together they cover about seventy percent of the planet's surface and hold most of its "
        "water. The Pacific is by far the largest and deepest; its area is greater than that of all "
        "the land on Earth combined. The deepest known point, in the Mariana Trench, lies nearly "
        "eleven kilometres below the surface. Ocean currents move huge amounts of warm and cold "
        "water around the globe, and they have a strong effect on the weather and climate of the "
        "lands they pass."
    )),
    ("geography", (
        "The Nile and the Amazon are the two longest rivers in the world, each more than six "
        "thousand kilometres long. The Nile flows north through eastern Africa and Egypt before "
        "reaching the Mediterranean Sea. For thousands of years, its yearly floods left rich soil "
        "along its banks, allowing farmers in a dry land to grow wheat and other crops. The Amazon, "
        "in South America, carries far more water than any other river. It drains a huge basin "
        "covered largely by rainforest and pours so much fresh water into the Atlantic that the sea "
        "is less salty far from the coast."
    )),
    ("geography", (
        "An island is a piece of land completely surrounded by water. Some islands, like Great "
        "Britain, were once joined to a continent and became separated when sea levels rose after "
        "the last ice age. Others, such as Hawaii and Iceland, were built by volcanoes rising from "
        "the sea floor. In warm seas, low islands can also form on top of coral reefs. Greenland is "
        "the largest island in the world. Because islands are isolated, they often develop unusual "
        "plants and animals found nowhere else, as on Madagascar and the Galapagos Islands."
    )),
    ("geography", (
        "Geographers usually divide the land on Earth into seven continents: Asia, Africa, North "
        "America, South America, Antarctica, Europe and Australia. Asia is the largest, both in "
        "area and in population, and it is home to more than half of all the people in the world. "
        "Antarctica, around the South Pole, is covered almost entirely by a thick sheet of ice and "
        "has no permanent residents, only scientists and staff who stay at research stations. "
        "Australia is the smallest continent. Over very long periods of time, the continents slowly "
        "move, drifting a few centimetres each year as the plates beneath them shift."
    )),
    ("geography", (
        "Lines of latitude measure how far a place lies north or south of the equator. Places near "
        "the equator receive strong sunlight all year, so they are generally warm and have little "
        "difference between summer and winter. Farther from the equator, the sun's rays strike the "
        "ground at a lower angle, spreading their energy over a wider area, and the seasons become "
        "more distinct. Near the poles, the sun stays below the horizon for weeks in winter and does "
        "not set for weeks in summer. Altitude matters too: the air becomes cooler as you climb, "
        "which is why snow can lie on mountains near the equator."
    )),
    ("geography", (
        "A map is a flat drawing of part or all of the Earth's surface. Because the Earth is round, "
        "no flat map can show it perfectly, and every map projection stretches or squeezes some "
        "areas. On the well-known Mercator projection, for example, lands near the poles appear much "
        "larger than they really are, so Greenland looks about as big as Africa, although Africa is "
        "roughly fourteen times larger. Most maps include a scale, which shows how distances on "
        "paper compare with real distances, and a legend that explains the symbols used for roads, "
        "rivers, towns and borders."
    )),
    ("geography", (
        "A volcano is an opening in the Earth's crust through which melted rock, gas and ash "
        "escape. Underground, the melted rock is called magma; once it reaches the surface, it is "
        "known as lava. Some volcanoes erupt gently, with rivers of runny lava flowing down their "
        "sides, as often happens in Hawaii. Others explode violently, throwing ash high into the "
        "sky, where it can drift for hundreds of kilometres. Most active volcanoes lie along the "
        "edges of tectonic plates, especially around the Pacific Ocean in a long chain often called "
        "the Ring of Fire."
    )),
    ("geography", (
        "For most of human history, the great majority of people lived in the countryside and "
        "worked on farms. That began to change with the growth of factories in the eighteenth and "
        "nineteenth centuries, when many people moved to towns in search of work. Today, more than "
        "half of the world's population lives in urban areas, and the share is still rising. Large "
        "cities offer jobs, schools, hospitals and cultural life, but they also face problems such "
        "as traffic, air pollution and the high cost of housing. Good public transport and green "
        "spaces help make crowded cities more pleasant places to live."
    )),
    # --- history of inventions ----------------------------------------------------------------
    ("inventions", (
        "Around 1440, Johannes Gutenberg, a goldsmith in the German city of Mainz, developed a "
        "printing press that used movable metal type. Individual letters could be arranged to form "
        "a page, inked and pressed onto paper, then rearranged for the next page. Printing had "
        "existed before, notably in China and Korea, but Gutenberg's system made it much faster and "
        "cheaper to produce books in Europe. Within a few decades, printing workshops had spread to "
        "many European cities. Books, pamphlets and newspapers became far more common, which helped "
        "ideas travel quickly and encouraged more people to learn to read."
    )),
    ("inventions", (
        "The telephone was patented by Alexander Graham Bell in 1876, although several other "
        "inventors were working on similar ideas at the same time. Early telephones turned the "
        "sound of a voice into an electrical signal that travelled along a wire and was changed "
        "back into sound at the other end. At first, calls had to be connected by hand by operators "
        "at a switchboard. Over the following century, telephone lines spread across countries and "
        "under the oceans. Today, most calls are made on mobile phones, which send signals by radio "
        "waves to nearby masts instead of through a fixed wire."
    )),
    ("inventions", (
        "Many inventors worked on electric lighting during the nineteenth century. In the late "
        "1870s, Thomas Edison in the United States and Joseph Swan in Britain each produced "
        "practical light bulbs in which a thin filament glowed when an electric current passed "
        "through it. The filament was sealed inside a glass bulb with the air removed, so that it "
        "would not burn up quickly. Edison also worked on the power stations and wiring needed to "
        "bring electricity into homes. Lighting has since moved on, and modern LED bulbs use only a "
        "small fraction of the energy of the old filament bulbs."
    )),
    ("inventions", (
        "Steam engines use the heat from burning fuel to boil water, and the pressure of the steam "
        "is used to move a piston. The first practical steam engines were built in the early "
        "eighteenth century to pump water out of mines. In the 1760s and 1770s, James Watt greatly "
        "improved the design by adding a separate condenser, which made the engine much more "
        "efficient. Steam power then spread to factories, ships and, in the early nineteenth "
        "century, railways. It played a central role in the Industrial Revolution, allowing goods "
        "to be made and transported on a scale never seen before."
    )),
    ("inventions", (
        "The wheel is often named as one of the most important inventions in history, yet it "
        "appeared surprisingly late. The oldest known wheels date from around five and a half "
        "thousand years ago, in Mesopotamia and nearby regions, and some of the first may have been "
        "used for making pottery rather than for transport. Early cart wheels were solid discs of "
        "wood. Later, people learned to make lighter wheels with spokes, which were ideal for fast "
        "chariots. Wheels work best on smooth, firm ground, so their use spread together with the "
        "building of roads."
    )),
    ("inventions", (
        "On 17 December 1903, the brothers Orville and Wilbur Wright made the first controlled, "
        "powered flight in an aeroplane near Kitty Hawk, North Carolina. The first flight lasted "
        "about twelve seconds and covered roughly thirty-seven metres. The Wright brothers had spent "
        "years studying how birds fly and testing gliders, and their most important idea was a way "
        "to control the aircraft by twisting, or warping, its wings. Aviation developed very quickly "
        "after that. Within a few decades, aircraft were carrying mail and passengers, and by the "
        "late 1950s jet airliners were crossing the Atlantic in a matter of hours."
    )),
    ("inventions", (
        "Paper was invented in China. According to tradition, an official named Cai Lun improved "
        "the process around the year 105, making sheets from tree bark, old rags, hemp and fishing "
        "nets that were soaked, beaten into a pulp, spread thinly on a screen and dried. Before "
        "paper, people wrote on materials such as clay tablets, papyrus, silk and animal skins, "
        "which were heavy, fragile or expensive. The craft of papermaking slowly spread west along "
        "trade routes, reaching the Islamic world in the eighth century and Europe several "
        "centuries later. Today, most paper is made from wood pulp."
    )),
    ("inventions", (
        "The magnetic compass works because a magnetised needle, free to turn, lines up with the "
        "Earth's magnetic field and points roughly north. Chinese writers described magnetic "
        "devices more than a thousand years ago, and by the eleventh and twelfth centuries "
        "compasses were being used for navigation at sea in China, and soon after in Europe and the "
        "Middle East. The compass allowed sailors to keep their course even when clouds hid the sun "
        "and stars. Magnetic north is not exactly the same as the geographic North Pole, and the "
        "difference slowly changes over time."
    )),
    # --- cooking ----------------------------------------------------------------------------
    ("cooking", (
        "Bread is made from flour, water, salt and, in most cases, yeast. When the ingredients are "
        "mixed and kneaded, proteins in the flour form a stretchy network called gluten. Yeast feeds "
        "on sugars in the dough and releases carbon dioxide gas, which becomes trapped in the gluten "
        "and makes the dough rise. Baking then sets the structure, while the heat of the oven browns "
        "the crust and gives it flavour. Flat breads, such as many kinds of tortilla and chapati, "
        "are made without yeast and cook quickly on a hot surface."
    )),
    ("cooking", (
        "Rice is the main food for more than half of the world's people, especially in Asia. There "
        "are thousands of varieties, but they are often grouped by the length and shape of the "
        "grain. Long-grain rice, such as basmati, cooks into separate, fluffy grains, while "
        "short-grain rice becomes soft and sticky, which makes it suitable for sushi and many "
        "desserts. A common way to cook rice is to simmer it in a measured amount of water until all "
        "the liquid has been absorbed. Rinsing the grains beforehand removes surface starch and "
        "helps stop them from clumping together."
    )),
    ("cooking", (
        "Cooking changes food through heat. When an egg is boiled, for example, the proteins in the "
        "white and yolk unfold and link together, turning from a runny liquid into a firm solid. "
        "Browning is another important change. When meat, bread or onions are cooked at a high "
        "temperature, sugars and proteins react with each other in what is called the Maillard "
        "reaction, creating many new flavours and a brown colour. This is why a grilled steak or a "
        "slice of toast tastes so different from the raw ingredients. Boiling cannot produce the "
        "same browning, since water does not get hot enough."
    )),
    ("cooking", (
        "Spices are dried parts of plants, such as seeds, bark, roots or fruits, used in small "
        "amounts to add flavour to food. Black pepper, cinnamon, cloves, nutmeg and ginger were once "
        "so valuable in Europe that they were traded across great distances from South and "
        "Southeast Asia. The search for faster routes to the lands where spices grew was one of the "
        "reasons for the long sea voyages made by European explorers in the fifteenth and sixteenth "
        "centuries. Today, spices are cheap and widely available. Many cooks toast whole spices "
        "briefly in a dry pan to release their aroma before grinding them."
    )),
    ("cooking", (
        "Soup is one of the oldest and most adaptable dishes in the world. A simple vegetable soup "
        "usually begins by gently frying chopped onions, carrots and celery in a little oil or "
        "butter, which softens them and brings out their sweetness. Stock or water is then added, "
        "along with other vegetables, beans or grains, and the pot is left to simmer until "
        "everything is tender. Some soups are served chunky, while others are blended until smooth. "
        "Herbs, salt and pepper, and sometimes a squeeze of lemon juice are added near the end to "
        "finish the flavour."
    )),
    ("cooking", (
        "Before refrigerators, people found many ways to keep food from spoiling. Drying removes the "
        "water that bacteria and moulds need to grow, which is why dried fruit, beans and fish can "
        "be stored for months. Salting works in a similar way, drawing moisture out of meat and "
        "fish. Pickling uses vinegar or salty brine to create conditions in which harmful microbes "
        "struggle to survive. Smoking adds flavour and also helps to preserve food. In the "
        "nineteenth century, canning made it possible to seal cooked food in airtight containers, "
        "so that it could be kept for years."
    )),
    ("cooking", (
        "Chocolate is made from the seeds of the cacao tree, which grows in hot, humid regions near "
        "the equator. The seeds, often called cocoa beans, grow inside large pods on the trunk and "
        "branches of the tree. After harvesting, the beans are fermented for several days, dried in "
        "the sun and then roasted, which develops their familiar flavour. The roasted beans are "
        "ground into a thick paste, which can be mixed with sugar, extra cocoa butter and sometimes "
        "milk to make chocolate bars. The cacao tree is native to the Americas, where people drank "
        "cocoa long before it reached Europe."
    )),
    ("cooking", (
        "Dried pasta is made from durum wheat semolina and water, pressed into hundreds of different "
        "shapes and then slowly dried. To cook it, pasta is usually dropped into a large pot of "
        "boiling, salted water and stirred from time to time so that the pieces do not stick. Many "
        "cooks take it out when it is al dente, an Italian phrase meaning 'to the tooth', which "
        "describes pasta that is tender but still slightly firm when bitten. A little of the starchy "
        "cooking water is often saved and added to the sauce, where it helps the sauce cling to the "
        "pasta."
    )),
    # --- weather ----------------------------------------------------------------------------
    ("weather", (
        "Clouds form when moist air rises and cools. Cooler air cannot hold as much water vapour, so "
        "some of the vapour condenses onto tiny particles of dust, salt or smoke, forming countless "
        "small droplets or ice crystals. Meteorologists group clouds by their shape and height. "
        "Cumulus clouds are puffy and white, often seen on fair summer days. Stratus clouds form "
        "flat grey layers that can cover the whole sky, while thin, wispy cirrus clouds float very "
        "high up and are made of ice. Tall, dark cumulonimbus clouds can bring thunderstorms, heavy "
        "rain and hail."
    )),
    ("weather", (
        "Water on Earth moves in a continuous cycle. The sun warms oceans, lakes and rivers, and "
        "some of the water evaporates, rising into the air as invisible vapour. Plants also release "
        "water vapour through their leaves. As the vapour rises and cools, it condenses into clouds. "
        "When the droplets in a cloud join together and become too heavy to stay in the air, they "
        "fall as rain, or as snow if the air is cold enough. Some of this water runs off into rivers "
        "and flows back to the sea, while some soaks into the ground and may be stored there for a "
        "very long time."
    )),
    ("weather", (
        "Lightning is a giant spark of electricity that forms inside storm clouds. As ice particles "
        "and water droplets are carried up and down by strong air currents, they collide and build "
        "up electric charges. When the difference in charge becomes large enough, electricity jumps "
        "between parts of the cloud or between the cloud and the ground. The lightning heats the air "
        "around it to temperatures several times hotter than the surface of the sun, making the air "
        "expand with explosive force, which we hear as thunder. Because light travels much faster "
        "than sound, we see the flash before we hear the thunder."
    )),
    ("weather", (
        "Wind is air moving from one place to another. It happens mainly because the sun heats the "
        "Earth's surface unevenly. Warm air is lighter and rises, creating areas of lower pressure, "
        "while cooler, heavier air sinks and creates areas of higher pressure. Air flows from high "
        "pressure towards low pressure, and the bigger the difference, the stronger the wind. Along "
        "coasts, a sea breeze often blows from the water onto the land on sunny afternoons, because "
        "the land warms faster than the sea. Wind speed is measured with an instrument called an "
        "anemometer."
    )),
    ("weather", (
        "Hurricanes are powerful storms that form over warm tropical oceans. They draw their energy "
        "from the warm, moist air above the sea, which rises and releases heat as its water vapour "
        "condenses into clouds. The storm spins around a calm centre called the eye, where the sky "
        "can be surprisingly clear. The same kind of storm is called a typhoon in the northwest "
        "Pacific and a cyclone in the Indian Ocean. Hurricanes bring extremely strong winds, very "
        "heavy rain and storm surges, in which sea water is pushed far onto the land. They usually "
        "weaken once they move over land or cooler water."
    )),
    ("weather", (
        "Snowflakes form high in cold clouds when water vapour freezes onto tiny particles, building "
        "ice crystals. As a crystal falls, it grows by collecting more vapour, and the temperature "
        "and humidity it passes through shape its pattern. Most snowflakes have six sides or six "
        "arms, because of the way water molecules arrange themselves when they freeze. Fresh snow "
        "is mostly air, which makes it a good insulator; this is why a layer of snow can protect "
        "plants and small animals from the bitter cold above. Snow also reflects most of the "
        "sunlight that falls on it."
    )),
    ("weather", (
        "Modern weather forecasts are based on a huge number of observations collected every day. "
        "Weather stations on land, ships, buoys, balloons and satellites measure temperature, air "
        "pressure, humidity and wind all around the world. This information is fed into powerful "
        "computers that run mathematical models of the atmosphere, calculating how the weather is "
        "likely to change over the coming hours and days. Forecasts for the next day or two are "
        "usually quite accurate, but they become less certain further ahead, because small errors "
        "in the starting data grow over time."
    )),
    ("weather", (
        "A rainbow appears when sunlight shines on drops of water in the air, usually while the sun "
        "is behind the observer and rain is falling in front. As light enters a raindrop, it bends, "
        "reflects off the back of the drop and bends again on its way out. Each colour of light "
        "bends by a slightly different amount, so white sunlight is spread into a band of colours, "
        "with red on the outside and violet on the inside. Sometimes a fainter second rainbow "
        "appears above the first, with its colours in reverse order. Rainbows can also be seen in "
        "the spray of waterfalls."
    )),
    # --- animals ----------------------------------------------------------------------------
    ("animals", (
        "Honeybees live in colonies that can contain tens of thousands of individuals. Each colony "
        "usually has a single queen, which lays the eggs, along with many female worker bees and, at "
        "certain times of year, male bees called drones. Workers do almost all the jobs in the "
        "hive: they clean cells, feed the young, build wax comb, guard the entrance and collect "
        "nectar and pollen from flowers. A worker that finds a good source of food can tell her "
        "sisters where it is by performing a special movement known as the waggle dance."
    )),
    ("animals", (
        "Elephants are the largest land animals alive today. There are African and Asian elephants, "
        "and African elephants are usually the larger of the two, with bigger ears. An elephant's "
        "trunk is a long, flexible combination of its nose and upper lip, moved by many thousands of "
        "muscle bundles. It is used for breathing, smelling, drinking, grasping food and greeting "
        "other elephants. Elephants live in close family groups led by an older female, known as the "
        "matriarch, who remembers where to find water and food. They eat large amounts of plants "
        "and spend most of their waking hours feeding."
    )),
    ("animals", (
        "Every year, billions of birds migrate between their breeding grounds and the places where "
        "they spend the winter. Many birds that nest in northern Europe, for example, fly south to "
        "Africa in autumn, when insects and other food become scarce, and return in spring. The "
        "Arctic tern makes one of the longest journeys of any animal, travelling between the Arctic "
        "and the Antarctic and back each year. Birds find their way using several clues, including "
        "the position of the sun and stars, the Earth's magnetic field and familiar landmarks such "
        "as coastlines and mountain ranges."
    )),
    ("animals", (
        "The octopus is a soft-bodied sea animal with eight arms lined with suckers, which it uses to "
        "feel, taste and grip. It has no bones, so it can squeeze through any gap larger than its "
        "beak, the only hard part of its body. Octopuses are known for their intelligence: in "
        "studies, they have learned to open jars and find their way through simple mazes. Many can "
        "change the colour and texture of their skin in a fraction of a second to blend into their "
        "surroundings. When threatened, an octopus may squirt a cloud of dark ink to confuse a "
        "predator while it escapes."
    )),
    ("animals", (
        "Penguins are birds that cannot fly, but they are superb swimmers. Their wings have become "
        "stiff flippers that push them through the water, and their streamlined bodies help them "
        "chase fish, squid and krill. Almost all penguins live in the Southern Hemisphere, from the "
        "icy coasts of Antarctica to warmer places such as South Africa, southern Australia and the "
        "Galapagos Islands. A thick layer of fat and tightly packed feathers keep them warm in cold "
        "water. Emperor penguins, the largest species, breed during the Antarctic winter, and the "
        "males keep the eggs warm on their feet."
    )),
    ("animals", (
        "Dogs were the first animals to be domesticated. They descend from ancient wolves that began "
        "living alongside humans many thousands of years ago, long before the first farms. Over "
        "time, people bred dogs for different tasks, such as herding sheep, guarding homes, hunting "
        "and pulling sleds, which is why breeds vary so much in size, shape and behaviour. Dogs have "
        "an excellent sense of smell, far more sensitive than ours, and they are trained to search "
        "for missing people. They are also good at reading human gestures, such as pointing, which "
        "helps explain why they are such popular companions."
    )),
    ("animals", (
        "Whales are mammals, not fish. They breathe air through blowholes on the top of their "
        "heads, give birth to live young and feed their calves with milk. The blue whale is the "
        "largest animal known ever to have lived, reaching around thirty metres in length. Despite "
        "its huge size, it feeds mainly on krill, tiny shrimp-like animals that it filters from the "
        "water using plates of baleen hanging from its upper jaw. Other whales, such as sperm whales "
        "and orcas, have teeth and hunt larger prey. The long, complex songs of humpback whales can "
        "travel great distances underwater."
    )),
    ("animals", (
        "Most frogs begin life as eggs laid in water, often in large clumps called frogspawn. The "
        "eggs hatch into tadpoles, which breathe through gills, swim with a tail and feed mainly on "
        "algae. Over several weeks or months, a tadpole gradually changes. It grows back legs and "
        "then front legs, its tail shrinks, and its gills are replaced by lungs, allowing it to live "
        "on land as well as in water. This dramatic change is called metamorphosis. Adult frogs "
        "catch insects and other small animals with a quick flick of their sticky tongue."
    )),
    # --- sports -----------------------------------------------------------------------------
    ("sports", (
        "The ancient Olympic Games were held at Olympia, in Greece, from at least 776 BC and took "
        "place every four years for more than a thousand years. Events included running, wrestling, "
        "boxing and chariot racing. The modern Olympic Games were started by the French educator "
        "Pierre de Coubertin, and the first were held in Athens in 1896. Since then, the Summer "
        "Games have grown to include thousands of athletes from almost every country. The Winter "
        "Games, with sports on snow and ice such as skiing and ice hockey, were added in 1924."
    )),
    ("sports", (
        "Association football, called soccer in some countries, is the most popular team sport in "
        "the world. Two teams of eleven players try to score by getting the ball into the opposing "
        "goal, and only the goalkeepers may handle the ball, and only inside their own penalty area. "
        "A standard match lasts ninety minutes, divided into two halves. The modern rules were first "
        "written down in England in 1863, when the Football Association was formed. The first World "
        "Cup took place in Uruguay in 1930 and was won by the host nation."
    )),
    ("sports", (
        "The marathon is a long-distance running race of 42.195 kilometres. Its name comes from a "
        "Greek legend in which a messenger ran from the battlefield of Marathon to Athens to "
        "announce a victory. A marathon was included in the first modern Olympic Games in 1896, and "
        "the exact distance used today became the standard in 1921. Large city marathons, such as "
        "those in Boston, London and New York, attract tens of thousands of runners, from elite "
        "athletes to people raising money for charity. Completing one usually requires months of "
        "careful training."
    )),
    ("sports", (
        "Tennis is played on a rectangular court divided by a net, either by two players or by two "
        "pairs. Players use rackets to hit a ball over the net so that the opponent cannot return "
        "it. The scoring system is unusual: the points in a game are called fifteen, thirty and "
        "forty, and a player must usually win by two clear points. Games make up sets, and sets make "
        "up a match. The four most important tournaments, known as the Grand Slam events, are the "
        "Australian Open, the French Open, Wimbledon and the US Open."
    )),
    ("sports", (
        "Competitive swimmers use four main strokes: freestyle, backstroke, breaststroke and "
        "butterfly. In freestyle races, swimmers may use any stroke, but almost all choose the front "
        "crawl, because it is the fastest. Races are held in pools that are usually either "
        "twenty-five or fifty metres long, and each swimmer has a separate lane marked by ropes on "
        "the surface. In the individual medley, a single swimmer uses all four strokes in one race. "
        "Swimming is also an excellent form of exercise, since it works many muscles at once while "
        "putting little strain on the joints."
    )),
    ("sports", (
        "Basketball was invented in 1891 by James Naismith, a Canadian teacher working at a college "
        "in Springfield, Massachusetts. He wanted an indoor game to keep students active during the "
        "cold winter months, and the first baskets were peach baskets nailed to a balcony. Today, "
        "two teams of five players try to throw the ball through a hoop set just over three metres "
        "above the floor. Players move the ball by dribbling, bouncing it as they go, or by passing "
        "to teammates. A shot from beyond a curved line is worth three points instead of two."
    )),
    ("sports", (
        "The Tour de France is one of the most famous events in sport. First held in 1903, this "
        "cycling race takes place mainly in France over about three weeks each summer, with riders "
        "covering more than three thousand kilometres in daily stages. Some stages are flat and "
        "fast, others climb steep mountain roads in the Alps and the Pyrenees, and some are short "
        "time trials against the clock. The rider with the lowest total time wears the yellow "
        "jersey. Riders belong to teams, and teammates help their leader by sheltering them from "
        "the wind and fetching food and water."
    )),
    ("sports", (
        "Cricket is a bat-and-ball game played between two teams of eleven players on a large oval "
        "field with a long strip, called the pitch, at its centre. One team bats, trying to score "
        "runs, while the other bowls and fields, trying to get the batters out. A batter can be out "
        "in several ways, for example if the ball hits the wooden stumps behind them or if a fielder "
        "catches a hit before it touches the ground. Matches range from short games lasting a few "
        "hours to Test matches that can last up to five days."
    )),
    # --- music ------------------------------------------------------------------------------
    ("music", (
        "A symphony orchestra brings together dozens of musicians, often between sixty and a "
        "hundred, playing instruments from four main families. The strings, including violins, "
        "violas, cellos and double basses, form the largest group. The woodwinds include flutes, "
        "oboes, clarinets and bassoons, while the brass section has trumpets, horns, trombones and "
        "tubas. Percussion instruments, such as timpani, drums and cymbals, add rhythm and colour. A "
        "conductor stands in front of the orchestra, setting the tempo and shaping the performance "
        "with hand movements and a baton."
    )),
    ("music", (
        "The piano was invented around 1700 by Bartolomeo Cristofori in Italy. Its longer name, "
        "pianoforte, comes from the Italian words for soft and loud, because, unlike the earlier "
        "harpsichord, it could play both quietly and loudly depending on how hard the keys were "
        "pressed. When a key is pressed, a felt-covered hammer strikes a string, and the string's "
        "vibrations are made louder by a large wooden soundboard. A modern piano usually has "
        "eighty-eight keys, fifty-two white and thirty-six black, which gives it a very wide range."
    )),
    ("music", (
        "All musical sound comes from vibrations. When a guitar string is plucked, it moves rapidly "
        "back and forth, pushing the air around it and creating waves of pressure that travel to our "
        "ears. The speed of the vibration, called its frequency, determines the pitch we hear: "
        "faster vibrations produce higher notes. A shorter, tighter or thinner string vibrates "
        "faster than a longer, looser or thicker one. In wind instruments, a column of air inside a "
        "tube vibrates, and the length of that column sets the pitch. Doubling the frequency of a "
        "note raises it by one octave."
    )),
    ("music", (
        "Ludwig van Beethoven was born in Bonn, in present-day Germany, in 1770 and spent most of "
        "his adult life in Vienna. He is widely regarded as one of the greatest composers in Western "
        "music. His works include nine symphonies, thirty-two piano sonatas, five piano concertos, "
        "many string quartets and a single opera, Fidelio. He began to lose his hearing in his late "
        "twenties, and by the end of his life he was almost completely deaf. He kept composing "
        "nonetheless, and some of his most admired works, including the Ninth Symphony, were "
        "written when he could no longer hear them performed."
    )),
    ("music", (
        "Drums are among the oldest musical instruments and are found in cultures all over the "
        "world. A drum usually consists of a skin or plastic membrane stretched tightly over a "
        "hollow frame, which vibrates when it is struck with the hands or with sticks. The size of "
        "the drum and the tightness of the membrane affect its sound: large drums give deep, booming "
        "tones, while small, tight drums sound higher and sharper. In many traditions, drums were "
        "used not only for music and dance but also to send signals over long distances."
    )),
    ("music", (
        "Written music uses a system of symbols to show which notes to play and for how long. Notes "
        "are placed on a staff of five horizontal lines, and their height on the staff shows their "
        "pitch. A clef at the start of the staff tells the reader which lines stand for which notes; "
        "the treble clef is used for higher sounds and the bass clef for lower ones. The shape of "
        "each note shows its length, from a long whole note to short quavers. Other signs show how "
        "loud or soft the music should be and how fast to play it."
    )),
    ("music", (
        "The guitar is one of the most widely played instruments in the world. A classical or "
        "acoustic guitar has a hollow wooden body that makes the sound of its six strings louder. "
        "The player presses the strings against metal strips called frets on the neck to change the "
        "pitch, while plucking or strumming with the other hand. Electric guitars, which became "
        "popular in the 1950s, usually have solid bodies and use magnetic pickups to turn the "
        "vibrations of steel strings into an electrical signal that is sent to an amplifier."
    )),
    ("music", (
        "Singers are often grouped by the range of their voices. In classical music, the main "
        "female voice types are soprano, mezzo-soprano and alto, while male voices include tenor, "
        "baritone and bass. A typical choir has four parts, soprano, alto, tenor and bass, each "
        "singing its own line so that together they create harmony. The voice is produced when air "
        "from the lungs passes between the vocal folds in the larynx, making them vibrate. The "
        "throat, mouth and nose then shape and strengthen the sound. Like athletes, singers warm up "
        "before they perform."
    )),
    # --- the human body ---------------------------------------------------------------------
    ("body", (
        "The human heart is a muscular organ about the size of a fist, located in the chest slightly "
        "to the left of centre. It has four chambers: two upper chambers, called atria, which "
        "receive blood, and two lower chambers, called ventricles, which pump it out. The right side "
        "of the heart sends blood to the lungs to pick up oxygen, and the left side pumps the "
        "oxygen-rich blood around the rest of the body. At rest, an adult heart usually beats "
        "between sixty and a hundred times a minute."
    )),
    ("body", (
        "An adult human skeleton is made up of about 206 bones, although babies are born with more, "
        "since some bones fuse together as the body grows. The skeleton supports the body, protects "
        "organs such as the brain, heart and lungs, and works with the muscles to allow movement. "
        "Bones are living tissue that is constantly being broken down and rebuilt. Inside many bones "
        "is a soft tissue called marrow, which produces blood cells. The smallest bone in the body, "
        "the stapes, is in the middle ear, while the longest is the femur, or thigh bone."
    )),
    ("body", (
        "Sleep is essential for good health, and most adults need around seven to nine hours each "
        "night. During sleep, the body and brain pass through several stages in repeating cycles "
        "that each last about ninety minutes. In deep sleep, the body repairs tissues and the immune "
        "system is strengthened. During rapid eye movement, or REM, sleep, the brain is very active "
        "and most vivid dreaming takes place. Sleep also helps the brain store memories. A regular "
        "bedtime, a dark and quiet room, and avoiding bright screens late in the evening can all "
        "make it easier to sleep well."
    )),
    ("body", (
        "Digestion begins in the mouth, where teeth break food into small pieces and saliva starts "
        "to break down starch. After swallowing, food travels down the oesophagus to the stomach, "
        "where strong acid and enzymes continue the process. The partly digested food then moves "
        "into the small intestine, a coiled tube several metres long, where most nutrients are "
        "absorbed into the blood. Its lining is covered in tiny finger-like projections called "
        "villi, which greatly increase its surface. What remains passes into the large intestine, "
        "where much of the water is absorbed."
    )),
    ("body", (
        "At rest, adults breathe in and out around twelve to twenty times a minute, usually without "
        "thinking about it. When we breathe in, a dome-shaped muscle called the diaphragm contracts "
        "and moves down, and the chest expands, drawing air into the lungs. The air travels down the "
        "windpipe and through smaller and smaller tubes until it reaches millions of tiny air sacs "
        "called alveoli. There, oxygen passes through thin walls into the blood, while carbon "
        "dioxide moves the other way, to be breathed out. Smoking damages the delicate tissue of the "
        "lungs."
    )),
    ("body", (
        "The skin is the body's largest organ. It forms a waterproof barrier that protects the "
        "inside of the body from germs, injury and the harmful effects of sunlight. The outer layer, "
        "called the epidermis, is constantly renewed, as old cells are shed and replaced from below. "
        "The deeper layer, the dermis, contains blood vessels, nerve endings, hair roots and sweat "
        "glands. Sweating helps to control body temperature: as sweat evaporates from the skin, it "
        "carries heat away. The colour of skin depends largely on a pigment called melanin, which "
        "also helps protect against ultraviolet light."
    )),
    ("body", (
        "The human eye works in some ways like a camera. Light enters through the cornea, a clear "
        "layer at the front, and passes through the pupil, the dark opening in the centre of the "
        "coloured iris. The iris can widen or narrow the pupil to control how much light gets in. "
        "Behind it, the lens focuses the light onto the retina, a thin layer at the back of the eye "
        "that contains millions of light-sensitive cells. Rod cells work well in dim light, while "
        "cone cells detect colour. The retina sends signals along the optic nerve to the brain."
    )),
    ("body", (
        "The adult human brain weighs about 1.4 kilograms and contains tens of billions of nerve "
        "cells, called neurons. Each neuron can connect with thousands of others, passing signals "
        "through a combination of electrical impulses and chemical messengers. Different areas of "
        "the brain have special roles. The cerebrum, the largest part, is involved in thinking, "
        "language, memory and voluntary movement. The cerebellum, at the back, helps coordinate "
        "balance and smooth movement, while the brainstem controls vital functions such as "
        "breathing and heart rate."
    )),
    # --- space ------------------------------------------------------------------------------
    ("space", (
        "The solar system consists of the sun and everything that orbits it, including eight "
        "planets, their moons, and countless asteroids and comets. The four inner planets, Mercury, "
        "Venus, Earth and Mars, are small and rocky. The four outer planets are much larger: "
        "Jupiter and Saturn are gas giants made mostly of hydrogen and helium, while Uranus and "
        "Neptune are often called ice giants. Jupiter is the largest planet, with more than twice "
        "the mass of all the other planets combined. Between Mars and Jupiter lies the asteroid "
        "belt."
    )),
    ("space", (
        "The Moon is Earth's only natural satellite. It orbits Earth about once every twenty-seven "
        "days, and because it turns on its axis at the same rate, the same side always faces us. "
        "The Moon does not produce its own light; we see it because it reflects sunlight. As it "
        "travels around Earth, different portions of its sunlit side become visible, creating the "
        "phases from new moon to full moon and back. The Moon's gravity is the main cause of ocean "
        "tides. In 1969, Neil Armstrong and Buzz Aldrin became the first people to walk on its "
        "surface."
    )),
    ("space", (
        "The sun is a star, a huge ball of hot gas made mostly of hydrogen and helium. In its core, "
        "where the temperature reaches around fifteen million degrees Celsius, hydrogen nuclei fuse "
        "together to form helium, releasing enormous amounts of energy. This energy slowly makes its "
        "way to the surface and travels out into space as light and heat. Sunlight takes about eight "
        "minutes to reach Earth, which lies roughly 150 million kilometres away. The sun is about "
        "4.6 billion years old and is expected to keep shining in much the same way for billions of "
        "years more."
    )),
    ("space", (
        "Mars, the fourth planet from the sun, is often called the Red Planet because iron oxide, a "
        "kind of rust, in its soil and rocks gives it a reddish colour. It is about half the "
        "diameter of Earth and has a thin atmosphere made mostly of carbon dioxide. A day on Mars "
        "lasts a little more than twenty-four hours, but a year lasts nearly two Earth years. Mars "
        "is home to Olympus Mons, the tallest known volcano in the solar system. Robotic rovers have "
        "found strong evidence that liquid water once flowed across its surface."
    )),
    ("space", (
        "The stars we see at night are suns, many of them larger and brighter than our own, but so "
        "far away that they appear as points of light. Distances in space are so great that "
        "astronomers often measure them in light years. A light year is the distance light travels "
        "in one year, nearly ten trillion kilometres. The nearest star to the sun, Proxima Centauri, "
        "is a little over four light years away. Because light takes time to travel, we see distant "
        "stars as they were when the light left them, so looking far into space also means looking "
        "back in time."
    )),
    ("space", (
        "The International Space Station is a large laboratory that orbits Earth at a height of "
        "roughly four hundred kilometres. It was built in pieces that were launched separately and "
        "joined together in space, with the first parts sent up in 1998. Space agencies from the "
        "United States, Russia, Europe, Japan and Canada work together to run it. The station "
        "circles the planet about every ninety minutes, so the crew sees around sixteen sunrises and "
        "sunsets each day. Astronauts on board carry out experiments in biology, physics and "
        "medicine in near weightlessness."
    )),
    ("space", (
        "Comets are small bodies made of ice, dust and rock that travel around the sun, often on "
        "long, stretched orbits. Far from the sun they are frozen and dark, but as a comet comes "
        "closer, the heat turns some of its ice into gas, releasing dust as well. This forms a "
        "glowing cloud, called the coma, around the solid centre, and often long tails that point "
        "away from the sun. Halley's Comet is the best known; it returns roughly every seventy-six "
        "years and was last seen from Earth in 1986. It is expected back in 2061."
    )),
    ("space", (
        "Telescopes collect and focus light, allowing us to see objects that are too faint or too "
        "far away for the naked eye. Galileo Galilei was one of the first to point a telescope at "
        "the sky, in 1609 and 1610, and he discovered four large moons orbiting Jupiter, as well as "
        "mountains and craters on the Moon. Some modern telescopes are built on high mountains, "
        "where the air is thin and dry, while others, such as the Hubble Space Telescope, orbit "
        "above the atmosphere, which blurs and blocks some of the light from space."
    )),
]
